"""Where the tests run: their database, their Redis database, and the settings of the in-process app.

Each engineer's runs stay apart through SCIMHUB_TEST_DATABASE_URL and SCIMHUB_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from scimhub.settings import Settings, load_settings

TEST_DB_URL = os.environ.get("SCIMHUB_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/scimhub_test")
REDIS_URL = os.environ.get("SCIMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PUBLIC_URL = "http://scim.test"  # the in-process app's public URL (Tenant URLs, links in mails)


def make_settings(**overrides: Any) -> Settings:
    base = load_settings(
        {
            "SCIMHUB_DATABASE_URL": TEST_DB_URL,
            "SCIMHUB_PUBLIC_URL": PUBLIC_URL,
            "SCIMHUB_REDIS_URL": REDIS_URL,
            "SCIMHUB_TOKEN_CACHE_SECONDS": "0.2",
        }
    )
    return msgspec.structs.replace(base, **overrides)
