"""The one way to reach the Redis of SCIMHUB_REDIS_URL: the web process's own uses (readiness, metrics, the
workers' counters, the request-rate limits' `limits` storage) and Celery's broker, for every form
`settings.RedisTarget` accepts (redis://, rediss://, Sentinel). Every client gets short socket timeouts: a hung
Redis never blocks a request or a task for long.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import quote

import limits
import msgspec
import redis
import redis.asyncio as aioredis
from limits.aio.storage import Storage as LimitsStorage
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from scimhub.settings import RedisTarget, parse_redis_url

TIMEOUT = 1.0  # seconds, connect and each command (readiness and metrics answer within 2 s)


def _master_kwargs(target: RedisTarget, timeout: float) -> dict[str, Any]:
    return {
        "username": target.username,
        "password": target.password,
        "db": target.db,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }


def _sentinel_kwargs(target: RedisTarget, timeout: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if target.sentinel_password:
        kwargs["password"] = target.sentinel_password
    return kwargs


def sync_client(url: str, *, timeout: float = TIMEOUT) -> redis.Redis:
    """A blocking client (worker-side counters). Connects on first command, not here."""
    target = parse_redis_url(url)
    if target.sentinels:
        # redis-py's Sentinel is untyped.
        sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(target, timeout))  # type: ignore[no-untyped-call]
        master: redis.Redis = sentinel.master_for(target.master_name, **_master_kwargs(target, timeout))  # type: ignore[no-untyped-call]
        return master
    client: redis.Redis = redis.Redis.from_url(target.url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return client


def async_client(url: str, *, timeout: float = TIMEOUT) -> aioredis.Redis:
    """An asyncio client (readiness, metrics). Connects on first command; close it with `aclose()`."""
    target = parse_redis_url(url)
    if target.sentinels:
        options = _sentinel_kwargs(target, timeout)
        sentinel = AsyncSentinel(list(target.sentinels), sentinel_kwargs=options)  # type: ignore[no-untyped-call]
        master: aioredis.Redis = sentinel.master_for(target.master_name, **_master_kwargs(target, timeout))
        return master
    client: aioredis.Redis = aioredis.from_url(target.url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return client


class BrokerConfig(msgspec.Struct, frozen=True):
    """Celery's `broker_url`, the transport options this form needs, and `broker_use_ssl`."""

    url: str
    transport_options: dict[str, Any]
    use_ssl: dict[str, Any] | None


def _userinfo(target: RedisTarget) -> str:
    if target.password is None:
        return ""
    return f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"


def celery_broker(url: str) -> BrokerConfig:
    """Kombu reads sentinels from `sentinel://...;sentinel://...` and needs the master's name as a transport
    option; `rediss://` needs `ssl_cert_reqs` (certificates are required unless the URL says otherwise)."""
    target = parse_redis_url(url)
    if target.sentinels:
        options: dict[str, Any] = {"master_name": target.master_name}
        if target.sentinel_password:
            options["sentinel_kwargs"] = {"password": target.sentinel_password}
        parts = [f"sentinel://{_userinfo(target)}{host}:{port}/{target.db}" for host, port in target.sentinels]
        return BrokerConfig(";".join(parts), options, None)
    use_ssl = None
    if target.tls and "ssl_cert_reqs" not in target.url:
        use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return BrokerConfig(target.url, {}, use_ssl)


def limits_storage_uri(url: str) -> str:
    """The same Redis as a storage URI of the `limits` library (redis://, rediss://, redis+sentinel://)."""
    target = parse_redis_url(url)
    if not target.sentinels:
        return target.url
    hosts = ",".join(f"{host}:{port}" for host, port in target.sentinels)
    return f"redis+sentinel://{_userinfo(target)}{hosts}/{quote(target.master_name, safe='')}?db={target.db}"


def limits_storage(url: str, *, key_prefix: str, timeout: float = TIMEOUT) -> LimitsStorage:
    """The same Redis as an asyncio storage of the `limits` library (redis-py underneath, `http.throttle`), with
    the timeouts and credentials the other clients get. For a Sentinel URI `limits` would keep the password's
    percent-escapes, ignore `?db=` and give the sentinels the master's password, so those are passed as options.
    Connects on first use, not here."""
    target = parse_redis_url(url)
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if target.sentinels:
        options.update(_master_kwargs(target, timeout))
        options["sentinel_kwargs"] = {**_sentinel_kwargs(target, timeout), "password": target.sentinel_password}
    storage = limits.storage.storage_from_string(
        "async+" + limits_storage_uri(url), implementation="redispy", key_prefix=key_prefix, **options
    )
    assert isinstance(storage, LimitsStorage)  # noqa: S101 - an async+ scheme always yields an async storage
    return storage
