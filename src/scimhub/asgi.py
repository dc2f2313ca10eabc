"""The ASGI entry point: `granian --interface asgi scimhub.asgi:app`."""

from __future__ import annotations

import gc
import sys

from scimhub.settings import SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as exc:
    print(f"scimhub: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

from scimhub.observability import init_observability

init_observability(settings, component="web")

from scimhub.app import create_app  # noqa: E402

app = create_app(settings)

# What start-up made (modules, the schema registry, the app) lives as long as the process: moved out of the
# cyclic collector's generations, and the collector run less often, it no longer walks them while serving
# (py-spy: ~6% of the web process's samples were gc collections under the Entra mix; issue #13).
gc.freeze()
gc.set_threshold(50_000, 20, 20)
