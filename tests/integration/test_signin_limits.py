"""Sign-in limits (issue #11 item 4): per (account, address), per address across accounts, and a capped
per-account delay that a stranger cannot turn into a long lock-out; argon2 runs off the event loop with
bounded concurrency, and a refused attempt computes no hash. Time is passed in (`now=`), never slept."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from scimhub import admins
from scimhub.admins import passwords, signin
from scimhub.admins.model import SignInBusy
from tests.support.tenants import TenantHandle

T0 = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def fail(conn: asyncpg.Connection, t: TenantHandle | None, email: str, ip: str, when: dt.datetime) -> None:
    await signin.record_attempt(conn, t.tenant.id if t else None, email, ip, success=False, now=when)


async def test_one_address_guessing_one_account_waits_longer_and_longer(
    admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@x.test"
    for i in range(4):
        await fail(admin, tenant, email, "10.0.0.1", at(i))
    assert await signin.throttle_seconds(admin, tenant.tenant.id, email, "10.0.0.1", now=at(4)) == 0
    waits = []
    for i in range(4, 9):
        await fail(admin, tenant, email, "10.0.0.1", at(i))
        waits.append(await signin.throttle_seconds(admin, tenant.tenant.id, email, "10.0.0.1", now=at(i)))
    assert waits == [2, 4, 8, 16, 32]
    # The same account from another address is not held up by this pair.
    assert await signin.throttle_seconds(admin, tenant.tenant.id, email, "10.0.0.2", now=at(9)) == 0
    # Fifteen minutes later the window is past.
    assert await signin.throttle_seconds(admin, tenant.tenant.id, email, "10.0.0.1", now=at(8 + 15 * 60 + 1)) == 0


async def test_one_address_spraying_many_accounts_is_throttled_across_them(
    admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    ip = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    for i in range(signin.ADDRESS_AFTER - 1):
        await fail(admin, tenant, f"victim{i}@x.test", ip, at(i))
    assert await signin.throttle_seconds(admin, tenant.tenant.id, "fresh@x.test", ip, now=at(40)) == 0
    await fail(admin, None, "probe@unknown-tenant.test", ip, at(41))  # unknown tenants count too
    assert await signin.throttle_seconds(admin, tenant.tenant.id, "fresh@x.test", ip, now=at(41)) == 2
    assert await signin.throttle_seconds(admin, None, "anyone@x.test", ip, now=at(41)) == 2
    assert await signin.throttle_seconds(admin, tenant.tenant.id, "fresh@x.test", "10.9.9.9", now=at(41)) == 0


async def test_many_addresses_at_one_account_delay_it_at_most_30_seconds_and_never_a_known_address(
    admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@x.test"
    await signin.record_attempt(admin, tenant.tenant.id, email, "192.0.2.10", success=True, now=at(-3600))
    for i in range(40):  # a botnet: one guess from each of 40 addresses
        await fail(admin, tenant, email, f"203.0.113.{i}", at(i))
    wait = await signin.throttle_seconds(admin, tenant.tenant.id, email, "198.51.100.1", now=at(40))
    assert 0 < wait <= signin.ACCOUNT_MAX_SECONDS
    assert await signin.throttle_seconds(admin, tenant.tenant.id, email, "198.51.100.1", now=at(39 + 30)) == 0
    # The administrator's own address (a success within 30 days) is not held up at all.
    assert await signin.throttle_seconds(admin, tenant.tenant.id, email, "192.0.2.10", now=at(40)) == 0


async def test_a_throttled_attempt_is_refused_before_any_hash_and_is_not_recorded(
    admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@x.test"
    await admins.create_admin(admin, tenant.tenant.id, email, "correct horse battery staple")
    for i in range(signin.PAIR_AFTER):
        await fail(admin, tenant, email, "10.2.0.1", at(i))
    count = "SELECT count(*) FROM public.admin_signin WHERE tenant_id = $1"
    before = await admin.fetchval(count, tenant.tenant.id)
    # Every hash slot is taken (as by a flood): an attempt that needed a hash would be refused as busy;
    # a throttled one is refused as throttled, which proves it never asked for a hash.
    with passwords._lock:
        passwords._in_flight += passwords.HASH_THREADS + passwords.MAX_WAITING
    try:
        with pytest.raises(admins.SignInThrottled):
            await signin.sign_in(admin, tenant.tenant.id, email, "correct horse battery staple", "10.2.0.1", now=at(5))
        with pytest.raises(SignInBusy):
            await signin.sign_in(admin, tenant.tenant.id, email, "guess", "10.2.0.2", now=at(5))
    finally:
        with passwords._lock:
            passwords._in_flight -= passwords.HASH_THREADS + passwords.MAX_WAITING
    assert await admin.fetchval(count, tenant.tenant.id) == before
    token, principal = await signin.sign_in(
        admin, tenant.tenant.id, email, "correct horse battery staple", "10.2.0.1", now=at(5 + 2)
    )
    assert token and principal.email == email


async def test_password_checks_run_on_one_thread_and_excess_ones_are_refused_at_once() -> None:
    stored = await passwords.hash_password("a password long enough")
    n = passwords.HASH_THREADS + passwords.MAX_WAITING + 1
    # All n start in the same loop iteration: the counter is full before the first check can finish.
    results = await asyncio.gather(
        *(passwords.verify_password(stored, "a password long enough") for _ in range(n)), return_exceptions=True
    )
    assert sum(r is True for r in results) == n - 1
    assert [type(r) for r in results if not isinstance(r, bool)] == [SignInBusy]
    assert passwords._in_flight == 0
    names: list[str] = []
    await asyncio.get_running_loop().run_in_executor(
        passwords._executor, lambda: names.append(__import__("threading").current_thread().name)
    )
    assert names[0].startswith("argon2")  # the event loop's thread never hashes
