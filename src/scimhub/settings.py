"""Settings: the only module that reads the environment.

Every value has a working local default so `make run` needs no configuration. A bad value raises
`SettingsError` with one line naming the variable; the CLI and the ASGI entry point print it and exit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec


class SettingsError(ValueError):
    """A variable of the environment holds a value the service cannot use."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "postgresql://127.0.0.1:5432/scimhub"
    redis_url: str = "redis://127.0.0.1:6379/0"
    public_url: str = "http://127.0.0.1:8000"
    smtp_url: str = ""
    mail_from: str = "scimhub <scimhub@localhost>"
    sentry_dsn: str = ""
    environment: str = "development"
    release: str = "scimhub@0.1.0"
    log_format: str = "text"  # "text" for development, "json" for production
    db_pool_size: int = 12
    # Largest page a list request may ask for; advertised in /ServiceProviderConfig (RFC 7644 §3.4.2.4).
    max_page_size: int = 200
    # Largest request body accepted, in bytes; larger bodies get 413 (RFC 7644 §3.12 "tooLarge"-like).
    max_body_bytes: int = 1_048_576
    # Largest PATCH operation count and filter length accepted.
    max_patch_operations: int = 1000
    max_filter_length: int = 4096
    token_cache_seconds: float = 2.0
    metrics_token: str = ""
    # Failure digests: wait this long after the first failure of a quiet period before mailing, so a burst
    # lands in one mail; the beat checks every `digest_flush_seconds`.
    # Benchmarks only (`make bench` measures what the activity log costs): off records no activity at all.
    activity_log: bool = True
    digest_settle_seconds: float = 30.0
    digest_flush_seconds: float = 15.0
    # Encrypts what must be kept but never shown (a tenant's OIDC client secret). Set a long random value in
    # production; changing it makes stored client secrets unreadable (they are entered again).
    secret_key: str = "scimhub-development-only-secret-key"  # noqa: S105 - the local default, documented


_ENV = {
    "database_url": "SCIMHUB_DATABASE_URL",
    "redis_url": "SCIMHUB_REDIS_URL",
    "public_url": "SCIMHUB_PUBLIC_URL",
    "smtp_url": "SCIMHUB_SMTP_URL",
    "mail_from": "SCIMHUB_MAIL_FROM",
    "sentry_dsn": "SENTRY_DSN",
    "environment": "SCIMHUB_ENVIRONMENT",
    "release": "SCIMHUB_RELEASE",
    "log_format": "SCIMHUB_LOG_FORMAT",
    "db_pool_size": "SCIMHUB_DB_POOL_SIZE",
    "max_page_size": "SCIMHUB_MAX_PAGE_SIZE",
    "max_body_bytes": "SCIMHUB_MAX_BODY_BYTES",
    "token_cache_seconds": "SCIMHUB_TOKEN_CACHE_SECONDS",
    "metrics_token": "SCIMHUB_METRICS_TOKEN",
    "digest_settle_seconds": "SCIMHUB_DIGEST_SETTLE_SECONDS",
    "activity_log": "SCIMHUB_ACTIVITY_LOG",
    "digest_flush_seconds": "SCIMHUB_DIGEST_FLUSH_SECONDS",
    "secret_key": "SCIMHUB_SECRET_KEY",
}


def _check_url(var: str, value: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(f"{var} must be a {'/'.join(schemes)} URL with a host, got {value!r}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `env` (default: the process environment); raise SettingsError on a bad value."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for field, var in _ENV.items():
        value = env.get(var)
        if value is None or value == "":
            continue
        default = getattr(Settings(), field)
        if isinstance(default, bool):
            raw[field] = value.lower() in {"1", "true", "yes", "on"}
        elif isinstance(default, int):
            try:
                raw[field] = int(value)
            except ValueError:
                raise SettingsError(f"{var} must be a whole number, got {value!r}") from None
        elif isinstance(default, float):
            try:
                raw[field] = float(value)
            except ValueError:
                raise SettingsError(f"{var} must be a number, got {value!r}") from None
        else:
            raw[field] = value
    settings = msgspec.convert(raw, Settings)
    _check_url("SCIMHUB_DATABASE_URL", settings.database_url, ("postgresql", "postgres"))
    _check_url("SCIMHUB_REDIS_URL", settings.redis_url, ("redis", "rediss"))
    _check_url("SCIMHUB_PUBLIC_URL", settings.public_url, ("http", "https"))
    if settings.smtp_url:
        _check_url("SCIMHUB_SMTP_URL", settings.smtp_url, ("smtp", "smtps", "smtp+starttls"))
    if settings.sentry_dsn:
        _check_url("SENTRY_DSN", settings.sentry_dsn, ("http", "https"))
    if settings.log_format not in {"text", "json"}:
        raise SettingsError(f"SCIMHUB_LOG_FORMAT must be 'text' or 'json', got {settings.log_format!r}")
    if not 1 <= settings.db_pool_size <= 100:
        raise SettingsError(f"SCIMHUB_DB_POOL_SIZE must be between 1 and 100, got {settings.db_pool_size}")
    if not 1 <= settings.max_page_size <= 10_000:
        raise SettingsError(f"SCIMHUB_MAX_PAGE_SIZE must be between 1 and 10000, got {settings.max_page_size}")
    return msgspec.structs.replace(settings, public_url=settings.public_url.rstrip("/"))
