"""Logging, Sentry and metrics set-up. Filled in by the observability issue; logging works from day one."""

from __future__ import annotations

import logging
import sys

from scimhub.settings import Settings

_configured = False


def init_observability(settings: Settings, *, component: str) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
