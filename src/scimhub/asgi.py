"""The ASGI entry point: `granian --interface asgi scimhub.asgi:app`."""

from __future__ import annotations

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
