"""After a bench run: what the activity pipeline did (filled in by the activity-log work)."""

import sys

print(f"bench: raw results in {sys.argv[1]}")
