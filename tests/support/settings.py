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
PUBLIC_URL = "http://scim.test"
RATE_LIMIT = "100000"  # the in-process app's public URL (Tenant URLs, links in mails)


def make_settings(**overrides: Any) -> Settings:
    base = load_settings(
        {
            "SCIMHUB_DATABASE_URL": TEST_DB_URL,
            "SCIMHUB_PUBLIC_URL": PUBLIC_URL,
            "SCIMHUB_REDIS_URL": REDIS_URL,
            "SCIMHUB_TOKEN_CACHE_SECONDS": "0.2",
            # Tests send requests in tight loops, far faster than any IdP: the production default (250 per
            # second per tenant) would refuse some. The limiter still runs on every request; the rate-limit
            # tests (test_fairness.py) set their own limits.
            "SCIMHUB_RATE_LIMIT": RATE_LIMIT,
        }
    )
    return msgspec.structs.replace(base, **overrides)
