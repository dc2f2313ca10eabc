"""Settings: the only module that reads the environment.

Every value has a working local default so `make run` needs no configuration. A bad value raises
`SettingsError` with one line naming the variable; the CLI and the ASGI entry point print it and exit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import msgspec


class SettingsError(ValueError):
    """A variable of the environment holds a value the service cannot use."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # The owner's login: `scimhub migrate` and the operator CLI (creates schemas and roles).
    database_url: str = "postgresql://127.0.0.1:5432/scimhub"
    # The web and worker login: may only become tenant roles and use the app's grants on `public`. Empty:
    # `default_app_database_url(database_url)`, a role `scimhub migrate` creates (see `tenancy.roles`).
    app_database_url: str = ""
    # "transaction" when `app_database_url` points at a transaction-mode pooler (PgBouncer
    # pool_mode=transaction): no statement is prepared for longer than one message sequence.
    app_database_pool_mode: str = "session"
    redis_url: str = "redis://127.0.0.1:6379/0"
    public_url: str = "http://127.0.0.1:8000"
    smtp_url: str = ""
    mail_from: str = "scimhub <scimhub@localhost>"
    sentry_dsn: str = ""
    environment: str = "development"
    release: str = "scimhub@0.1.0"
    log_format: str = "text"  # "text" for development, "json" for production
    db_pool_size: int = 12
    # Connection recycling (#16): each backend's catalog cache grows by ~107 kB per tenant schema it touches
    # (1 GB at 10,000); a pooled connection is closed and replaced after this many queries (~1,200 requests),
    # or when idle this long, which bounds that memory (README "10,000 tenants").
    db_connection_max_queries: int = 5_000
    db_connection_idle_seconds: float = 120.0
    # Largest page a list request may ask for; advertised in /ServiceProviderConfig (RFC 7644 §3.4.2.4).
    max_page_size: int = 200
    # Largest request body accepted, in bytes; larger bodies get 413 (RFC 7644 §3.12 "tooLarge"-like).
    max_body_bytes: int = 1_048_576
    # Largest PATCH operation count and filter length accepted.
    max_patch_operations: int = 1000
    max_filter_length: int = 4096
    token_cache_seconds: float = 2.0
    metrics_token: str = ""
    # Benchmarks only (`make bench` measures what the activity log costs): off records no activity at all.
    activity_log: bool = True
    # Failure digests: wait this long after the first failure of a quiet period before mailing, so a burst
    # lands in one mail; the beat checks every `digest_flush_seconds`.
    digest_settle_seconds: float = 30.0
    digest_flush_seconds: float = 15.0
    # Fair share (tenancy/fairness.py): connections one tenant may hold at once (0: a third of the pool, 4 of
    # 12), the longest wait for one, and the longest statement; past either timeout a 503.
    db_tenant_share: int = 0
    db_acquire_timeout_seconds: float = 5.0
    statement_timeout_seconds: float = 10.0
    # Requests per tenant per window (0: no limit); a tenant's own `rate_limit` overrides it. 250 per second
    # is 10x the 25 requests per second Entra needs at most (its heaviest cycles stay far below the limit).
    rate_limit: int = 250
    rate_limit_window_seconds: int = 1
    # Test mails per tenant per hour (the hub's and the admin API's "send a test mail").
    test_mail_per_hour: int = 5
    # Token lookups for tokens this process has never seen valid: per second for the whole process, and
    # per second for one client address (each allows a burst of twice that).
    stranger_lookups_per_second: int = 100
    stranger_lookups_per_client: int = 5
    # Encrypts what must be kept but never shown (a tenant's OIDC client secret). Set a long random value in
    # production; changing it makes stored client secrets unreadable (they are entered again).
    secret_key: str = "scimhub-development-only-secret-key"  # noqa: S105 - the local default, documented


VARIABLES = {  # each setting and the environment variable it is read from
    "database_url": "SCIMHUB_DATABASE_URL",
    "app_database_url": "SCIMHUB_APP_DATABASE_URL",
    "app_database_pool_mode": "SCIMHUB_APP_DATABASE_POOL_MODE",
    "redis_url": "SCIMHUB_REDIS_URL",
    "public_url": "SCIMHUB_PUBLIC_URL",
    "smtp_url": "SCIMHUB_SMTP_URL",
    "mail_from": "SCIMHUB_MAIL_FROM",
    "sentry_dsn": "SENTRY_DSN",
    "environment": "SCIMHUB_ENVIRONMENT",
    "release": "SCIMHUB_RELEASE",
    "log_format": "SCIMHUB_LOG_FORMAT",
    "db_pool_size": "SCIMHUB_DB_POOL_SIZE",
    "db_connection_max_queries": "SCIMHUB_DB_CONNECTION_MAX_QUERIES",
    "db_connection_idle_seconds": "SCIMHUB_DB_CONNECTION_IDLE_SECONDS",
    "max_page_size": "SCIMHUB_MAX_PAGE_SIZE",
    "max_body_bytes": "SCIMHUB_MAX_BODY_BYTES",
    "token_cache_seconds": "SCIMHUB_TOKEN_CACHE_SECONDS",
    "metrics_token": "SCIMHUB_METRICS_TOKEN",
    "digest_settle_seconds": "SCIMHUB_DIGEST_SETTLE_SECONDS",
    "activity_log": "SCIMHUB_ACTIVITY_LOG",
    "digest_flush_seconds": "SCIMHUB_DIGEST_FLUSH_SECONDS",
    "db_tenant_share": "SCIMHUB_DB_TENANT_SHARE",
    "db_acquire_timeout_seconds": "SCIMHUB_DB_ACQUIRE_TIMEOUT_SECONDS",
    "statement_timeout_seconds": "SCIMHUB_STATEMENT_TIMEOUT_SECONDS",
    "rate_limit": "SCIMHUB_RATE_LIMIT",
    "rate_limit_window_seconds": "SCIMHUB_RATE_LIMIT_WINDOW_SECONDS",
    "test_mail_per_hour": "SCIMHUB_TEST_MAIL_PER_HOUR",
    "stranger_lookups_per_second": "SCIMHUB_STRANGER_LOOKUPS_PER_SECOND",
    "stranger_lookups_per_client": "SCIMHUB_STRANGER_LOOKUPS_PER_CLIENT",
    "secret_key": "SCIMHUB_SECRET_KEY",
}


def _check_url(var: str, value: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(f"{var} must be a {'/'.join(schemes)} URL with a host, got {value!r}")


class RedisTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where Redis is, as SCIMHUB_REDIS_URL says (`parse_redis_url`); `scimhub.redis_clients` connects to it.

    - `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS; redis-py's `ssl_*` query parameters
      such as `ssl_ca_certs=/path` or `ssl_cert_reqs=none` pass through; certificates are checked by default);
    - Sentinel, in Celery's form: `sentinel://[[user]:password@]host:26379[/db];sentinel://host2:26379;...`
      plus `?master_name=NAME` (required) and optionally `sentinel_password=...` (for the sentinels
      themselves; the URL's password is the master's).
    """

    url: str  # as given
    sentinels: tuple[tuple[str, int], ...] = ()  # empty: a direct connection to `url`
    master_name: str = ""
    sentinel_password: str | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False


def parse_redis_url(url: str, var: str = "SCIMHUB_REDIS_URL") -> RedisTarget:
    """Raise SettingsError (naming `var`) for anything but the forms `RedisTarget` lists."""
    parts = [p for p in url.split(";") if p.strip()]
    if not parts:
        raise SettingsError(f"{var} is empty")
    first = urlsplit(parts[0].strip())
    if first.scheme in ("redis", "rediss") and len(parts) == 1:
        if not first.hostname:
            raise SettingsError(f"{var} must be a redis/rediss URL with a host, got {url!r}")
        return RedisTarget(
            url=url,
            username=unquote(first.username) if first.username else None,
            password=unquote(first.password) if first.password else None,
            db=_redis_db(var, first.path),
            tls=first.scheme == "rediss",
        )
    sentinels: list[tuple[str, int]] = []
    query: dict[str, list[str]] = {}
    for raw in parts:
        part = urlsplit(raw.strip())
        if part.scheme != "sentinel" or not part.hostname:
            raise SettingsError(
                f"{var} must be one redis:// or rediss:// URL, or sentinel://host:port URLs separated by ';', "
                f"got {url!r}"
            )
        try:
            port = part.port or 26379
        except ValueError:
            raise SettingsError(f"{var} has a bad port in {raw!r}") from None
        sentinels.append((part.hostname, port))
        for key, values in parse_qs(part.query).items():
            query.setdefault(key, []).extend(values)
    master = (query.get("master_name") or [""])[0]
    if not master:
        raise SettingsError(f"{var} names sentinels but no master: add ?master_name=NAME")
    return RedisTarget(
        url=url,
        sentinels=tuple(sentinels),
        master_name=master,
        sentinel_password=next(iter(query.get("sentinel_password", [])), None),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        db=_redis_db(var, first.path),
    )


def _redis_db(var: str, path: str) -> int:
    raw = path.strip("/") or "0"
    if not raw.isdigit():
        raise SettingsError(f"{var} must end in a database number (/0, /1, ...), got {path!r}")
    return int(raw)


def default_app_database_url(database_url: str) -> str:
    """The web/worker login's URL when SCIMHUB_APP_DATABASE_URL is unset: the owner's server and database, no
    password, as the role `<database>_app`. Roles are cluster-wide and database names unique in a cluster, so
    the dev and the test database on one server never share it."""
    parts = urlsplit(database_url)
    database = parts.path.lstrip("/") or "postgres"
    role = f"{database}_app"
    if len(role.encode()) > 63:  # PostgreSQL would truncate the name (NAMEDATALEN)
        raise SettingsError(
            f"the database name {database!r} is too long to derive a role: set SCIMHUB_APP_DATABASE_URL"
        )
    host = parts.hostname or "127.0.0.1"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, f"{quote(role, safe='')}@{netloc}", parts.path, parts.query, ""))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `env` (default: the process environment); raise SettingsError on a bad value."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for field, var in VARIABLES.items():
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
    if settings.app_database_url:
        _check_url("SCIMHUB_APP_DATABASE_URL", settings.app_database_url, ("postgresql", "postgres"))
        if not urlsplit(settings.app_database_url).username:
            raise SettingsError("SCIMHUB_APP_DATABASE_URL must name its login role (postgresql://ROLE@host/db)")
    else:
        settings = msgspec.structs.replace(settings, app_database_url=default_app_database_url(settings.database_url))
    if settings.app_database_pool_mode not in {"session", "transaction"}:
        mode = settings.app_database_pool_mode
        raise SettingsError(f"SCIMHUB_APP_DATABASE_POOL_MODE must be 'session' or 'transaction', got {mode!r}")
    parse_redis_url(settings.redis_url)
    _check_url("SCIMHUB_PUBLIC_URL", settings.public_url, ("http", "https"))
    if settings.smtp_url:
        _check_url("SCIMHUB_SMTP_URL", settings.smtp_url, ("smtp", "smtps", "smtp+starttls"))
    if settings.sentry_dsn:
        _check_url("SENTRY_DSN", settings.sentry_dsn, ("http", "https"))
    if settings.log_format not in {"text", "json"}:
        raise SettingsError(f"SCIMHUB_LOG_FORMAT must be 'text' or 'json', got {settings.log_format!r}")
    if not 1 <= settings.db_pool_size <= 100:
        raise SettingsError(f"SCIMHUB_DB_POOL_SIZE must be between 1 and 100, got {settings.db_pool_size}")
    if not 100 <= settings.db_connection_max_queries <= 10_000_000:
        raise SettingsError(
            "SCIMHUB_DB_CONNECTION_MAX_QUERIES must be between 100 and 10000000, "
            f"got {settings.db_connection_max_queries}"
        )
    if not 0 <= settings.db_connection_idle_seconds <= 86_400:
        raise SettingsError(
            "SCIMHUB_DB_CONNECTION_IDLE_SECONDS must be between 0 (never) and 86400, "
            f"got {settings.db_connection_idle_seconds}"
        )
    if not 1 <= settings.max_page_size <= 10_000:
        raise SettingsError(f"SCIMHUB_MAX_PAGE_SIZE must be between 1 and 10000, got {settings.max_page_size}")
    if not 0 <= settings.db_tenant_share <= settings.db_pool_size:
        raise SettingsError(
            f"SCIMHUB_DB_TENANT_SHARE must be between 0 and the pool size, got {settings.db_tenant_share}"
        )
    for var, seconds in (
        ("SCIMHUB_DB_ACQUIRE_TIMEOUT_SECONDS", settings.db_acquire_timeout_seconds),
        ("SCIMHUB_STATEMENT_TIMEOUT_SECONDS", settings.statement_timeout_seconds),
    ):
        if not 0 <= seconds <= 3600:
            raise SettingsError(f"{var} must be between 0 and 3600 seconds, got {seconds}")
    if settings.db_acquire_timeout_seconds == 0:
        raise SettingsError("SCIMHUB_DB_ACQUIRE_TIMEOUT_SECONDS must be more than 0")
    for var, number in (
        ("SCIMHUB_RATE_LIMIT", settings.rate_limit),
        ("SCIMHUB_TEST_MAIL_PER_HOUR", settings.test_mail_per_hour),
    ):
        if number < 0:
            raise SettingsError(f"{var} must be 0 (no limit) or more, got {number}")
    for var, number in (
        ("SCIMHUB_RATE_LIMIT_WINDOW_SECONDS", settings.rate_limit_window_seconds),
        ("SCIMHUB_STRANGER_LOOKUPS_PER_SECOND", settings.stranger_lookups_per_second),
        ("SCIMHUB_STRANGER_LOOKUPS_PER_CLIENT", settings.stranger_lookups_per_client),
    ):
        if not 1 <= number <= 1_000_000:
            raise SettingsError(f"{var} must be between 1 and 1000000, got {number}")
    return msgspec.structs.replace(settings, public_url=settings.public_url.rstrip("/"))
