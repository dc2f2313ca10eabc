"""`scimhub`: the operator command.

Every command is a small async function returning an exit code; an error prints one line to stderr and
exits 1 (2 for usage errors). Tokens are printed once, at creation or rotation, and never logged.
"""

from scimhub.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
