"""SCIMHUB_REDIS_URL: redis://, rediss:// (TLS) and Sentinel forms, parsed once and turned into clients and
Celery's broker configuration (no Redis or Sentinel is reached: clients connect on their first command)."""

from __future__ import annotations

import ssl

import pytest
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.sentinel import SentinelConnectionPool

from scimhub.queue import make_celery
from scimhub.redis_clients import async_client, celery_broker, limits_storage, limits_storage_uri, sync_client
from scimhub.settings import RedisTarget, SettingsError, load_settings, parse_redis_url

SENTINELS = "sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://10.0.0.2:26380/2;sentinel://10.0.0.3?master_name=scim"


def test_plain_and_tls_urls_are_direct() -> None:
    assert parse_redis_url("redis://127.0.0.1:6379/3") == RedisTarget(url="redis://127.0.0.1:6379/3", db=3)
    tls = parse_redis_url("rediss://user:pw@cache.example:6380/1?ssl_ca_certs=/etc/ca.pem")
    assert (tls.tls, tls.username, tls.password, tls.db, tls.sentinels) == (True, "user", "pw", 1, ())


def test_sentinel_urls_name_every_sentinel_the_master_and_the_database() -> None:
    target = parse_redis_url(SENTINELS + "&sentinel_password=watch")
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379))
    assert (target.master_name, target.password, target.sentinel_password, target.db) == ("scim", "s@cret", "watch", 2)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:6379/0", "redis:// or rediss://"),
        ("redis://:6379/0", "with a host"),
        ("redis://127.0.0.1:6379/zero", "database number"),
        ("sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379", "master_name"),
        ("sentinel://10.0.0.1:26379;redis://10.0.0.2:6379?master_name=x", "sentinel://host:port"),
        ("redis://a:6379/0;redis://b:6379/0", "sentinel://host:port"),
        ("", "SCIMHUB_REDIS_URL"),
    ],
)
def test_bad_urls_are_refused_with_the_variable_named(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match="SCIMHUB_REDIS_URL") as caught:
        parse_redis_url(url)
    assert says in str(caught.value)


def test_settings_accept_every_form() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://cache.example:6380/0", SENTINELS):
        assert load_settings({"SCIMHUB_REDIS_URL": url}).redis_url == url
    with pytest.raises(SettingsError, match="SCIMHUB_REDIS_URL"):
        load_settings({"SCIMHUB_REDIS_URL": "memcached://127.0.0.1"})


def test_celery_gets_kombus_sentinel_form_and_the_master_name() -> None:
    broker = celery_broker(SENTINELS + "&sentinel_password=watch")
    assert broker.url == (
        "sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://:s%40cret@10.0.0.2:26380/2;sentinel://:s%40cret@10.0.0.3:26379/2"
    )
    assert broker.transport_options == {"master_name": "scim", "sentinel_kwargs": {"password": "watch"}}
    app = make_celery(load_settings({"SCIMHUB_REDIS_URL": SENTINELS}))
    assert app.conf.broker_url.startswith("sentinel://")
    assert app.conf.broker_transport_options["master_name"] == "scim"
    assert app.conf.broker_transport_options["socket_timeout"] == 2  # the hung-broker guard stays


def test_tls_broker_checks_certificates_unless_the_url_says_otherwise() -> None:
    assert celery_broker("rediss://cache.example:6380/0").use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert celery_broker("rediss://cache.example:6380/0?ssl_cert_reqs=none").use_ssl is None
    assert celery_broker("redis://127.0.0.1:6379/0").use_ssl is None


def test_limits_storage_uri_of_each_form() -> None:
    assert limits_storage_uri("rediss://cache.example:6380/1") == "rediss://cache.example:6380/1"
    assert limits_storage_uri(SENTINELS) == (
        "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380,10.0.0.3:26379/scim?db=2"
    )


def test_the_rate_limiters_storage_reaches_the_same_master_with_its_credentials_and_timeouts() -> None:
    storage = limits_storage(SENTINELS + "&sentinel_password=watch", key_prefix="t", timeout=0.25)
    sentinel = storage.bridge.sentinel  # type: ignore[attr-defined]
    assert sentinel.sentinel_kwargs == {"socket_timeout": 0.25, "socket_connect_timeout": 0.25, "password": "watch"}
    master = storage.bridge.storage.connection_pool  # type: ignore[attr-defined]
    assert master.service_name == "scim"
    kwargs = master.connection_kwargs
    assert (kwargs["password"], kwargs["db"], kwargs["socket_timeout"]) == ("s@cret", 2, 0.25)
    direct = limits_storage("redis://:pw@127.0.0.1:6380/5", key_prefix="t", timeout=0.25)
    kwargs = direct.bridge.storage.connection_pool.connection_kwargs  # type: ignore[attr-defined]
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == ("127.0.0.1", 6380, 5, "pw")


async def test_clients_of_a_sentinel_url_ask_the_sentinels_for_the_master() -> None:
    blocking = sync_client(SENTINELS)
    pool = blocking.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "scim"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "s@cret"
    assert pool.connection_kwargs["socket_timeout"] == 1.0
    client = async_client(SENTINELS)
    assert isinstance(client.connection_pool, AsyncSentinelPool)
    assert client.connection_pool.service_name == "scim"
    await client.aclose()


async def test_clients_of_a_direct_url_keep_host_port_db_and_tls() -> None:
    client = async_client("rediss://cache.example:6380/4?ssl_cert_reqs=none")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == ("cache.example", 6380, 4, 1.0)
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    await client.aclose()
