"""Where the tests run: their database, their Redis database, and the settings of the in-process app.

Each engineer's runs stay apart through SCIMHUB_TEST_DATABASE_URL and SCIMHUB_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from scimhub.settings import Settings, default_app_database_url, load_settings

TEST_DB_URL = os.environ.get("SCIMHUB_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/scimhub_test")
# Where web and workers log in (empty: the default app login of TEST_DB_URL, straight to PostgreSQL).
# `python -m ops.pgbouncer run` sets these for the pass through PgBouncer in transaction mode.
TEST_APP_DB_URL = os.environ.get("SCIMHUB_TEST_APP_DATABASE_URL", "")
TEST_POOL_MODE = os.environ.get("SCIMHUB_TEST_APP_DATABASE_POOL_MODE", "session")
REDIS_URL = os.environ.get("SCIMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PUBLIC_URL = "http://scim.test"  # the in-process app's public URL (Tenant URLs, links in mails)
# Tests send requests in tight loops, far faster than any IdP: the production default (250 per second per
# tenant) would refuse some. The limiter still runs on every request; the rate-limit tests (test_fairness.py)
# set their own limits.
RATE_LIMIT = "100000"


def make_settings(**overrides: Any) -> Settings:
    base = load_settings(
        {
            "SCIMHUB_DATABASE_URL": TEST_DB_URL,
            "SCIMHUB_APP_DATABASE_URL": TEST_APP_DB_URL,
            "SCIMHUB_APP_DATABASE_POOL_MODE": TEST_POOL_MODE,
            "SCIMHUB_PUBLIC_URL": PUBLIC_URL,
            "SCIMHUB_REDIS_URL": REDIS_URL,
            "SCIMHUB_TOKEN_CACHE_SECONDS": "0.2",
            "SCIMHUB_RATE_LIMIT": RATE_LIMIT,
            # Webhook receivers of the tests listen on 127.0.0.1 over http (the SSRF tests turn it off).
            "SCIMHUB_WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    return msgspec.structs.replace(base, **overrides)


def app_env(database: str) -> dict[str, str]:
    """The variables that point a web or worker process of the tests at `database` and its app login (through
    PgBouncer in that pass for the test database), whatever the developer's shell exports, with the tests'
    rate limit (`RATE_LIMIT`; a test's own variables may override it)."""
    if database == TEST_DB_URL:
        settings = make_settings()
        app_url, mode = settings.app_database_url, settings.app_database_pool_mode
    else:
        app_url, mode = default_app_database_url(database), "session"
    return {
        "SCIMHUB_DATABASE_URL": database,
        "SCIMHUB_APP_DATABASE_URL": app_url,
        "SCIMHUB_APP_DATABASE_POOL_MODE": mode,
        "SCIMHUB_RATE_LIMIT": RATE_LIMIT,
        "SCIMHUB_WEBHOOK_ALLOW_PRIVATE": "true",
    }
