"""Password sign-in and its throttling (issue #11 item 4: strangers are cheap to turn away, and cannot lock
a real administrator out for long).

Three limits, all counted over the failed attempts of the last WINDOW (15 minutes) in `admin_signin`; the
wait is the longest of the three, and a throttled attempt is refused before any password is hashed and is
not recorded (so a flood of refused attempts costs one indexed read each and grows nothing):
1. per (account, client address): from the PAIR_AFTER-th (5th) failure since this pair's last success, each
   further failure doubles the wait after the latest one: 2 s, 4 s, 8 s ... at most 15 minutes. This is what
   stops one machine guessing one password.
2. per client address, across every account and tenant: from the ADDRESS_AFTER-th (30th) failure, the same
   doubling, at most 15 minutes. One machine cannot spray guesses over many accounts; it only slows itself.
3. per account, across every address: from the ACCOUNT_AFTER-th (10th) failure, the same doubling but capped
   at ACCOUNT_MAX_SECONDS (30 s), and not applied to an address that signed in to this account successfully
   in the last 30 days. Many machines together get about two guesses a minute at one account, while its
   real administrator waits at most 30 s, and not at all from an address it used before.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NoReturn

from scimhub.admins import trail
from scimhub.admins.model import Actor, ActorKind, Principal, SignInRefused, SignInThrottled
from scimhub.admins.passwords import verify_password
from scimhub.admins.sessions import create_session
from scimhub.admins.vocabulary import AdminAction, TrailOutcome
from scimhub.tenancy.db import Connection, fetch_one

WINDOW = dt.timedelta(minutes=15)
KNOWN_ADDRESS = dt.timedelta(days=30)
PAIR_AFTER = 5
ADDRESS_AFTER = 30
ACCOUNT_AFTER = 10
MAX_SECONDS = 900
ACCOUNT_MAX_SECONDS = 30
MAX_EMAIL = 254

_COUNTS = """
WITH pair_success AS (
    SELECT max(at) AS at FROM public.admin_signin
    WHERE tenant_id = $1 AND lower(email) = lower($2) AND client_ip IS NOT DISTINCT FROM $3 AND success
      AND at <= $4
), account AS (
    SELECT count(*) FILTER (WHERE NOT success AND at > $4::timestamptz - $5::interval) AS failures,
           max(at) FILTER (WHERE NOT success AND at > $4::timestamptz - $5::interval) AS last_failure,
           count(*) FILTER (WHERE NOT success AND client_ip IS NOT DISTINCT FROM $3
                              AND at > $4::timestamptz - $5::interval
                              AND at > coalesce((SELECT at FROM pair_success), '-infinity')) AS pair_failures,
           max(at) FILTER (WHERE NOT success AND client_ip IS NOT DISTINCT FROM $3
                             AND at > $4::timestamptz - $5::interval) AS pair_last,
           bool_or(success AND client_ip IS NOT DISTINCT FROM $3 AND at > $4::timestamptz - $6::interval)
               AS known_address
    FROM public.admin_signin
    WHERE tenant_id = $1 AND lower(email) = lower($2) AND at <= $4 AND at > $4::timestamptz - $6::interval
), address AS (
    SELECT count(*) AS failures, max(at) AS last_failure FROM public.admin_signin
    WHERE $3::text IS NOT NULL AND client_ip = $3 AND NOT success
      AND at > $4::timestamptz - $5::interval AND at <= $4
)
SELECT account.*, address.failures AS address_failures, address.last_failure AS address_last
FROM account, address
"""


def _wait(failures: int, after: int, last: dt.datetime | None, cap: int, now: dt.datetime) -> int:
    if failures < after or last is None:
        return 0
    wait: int = min(cap, 2 ** (failures - after + 1))
    return max(0, math.ceil(wait - (now - last).total_seconds()))


async def throttle_seconds(
    conn: Connection, tenant_id: int | None, email: str, client_ip: str | None, *, now: dt.datetime
) -> int:
    """Whole seconds this (account, address) must wait at `now` before its next attempt (0: it may try now)."""
    row = await fetch_one(conn, _COUNTS, tenant_id, email[:MAX_EMAIL], client_ip, now, WINDOW, KNOWN_ADDRESS)
    pair = _wait(int(row["pair_failures"] or 0), PAIR_AFTER, row["pair_last"], MAX_SECONDS, now)
    address = _wait(int(row["address_failures"] or 0), ADDRESS_AFTER, row["address_last"], MAX_SECONDS, now)
    account = 0
    if not row["known_address"]:
        account = _wait(int(row["failures"] or 0), ACCOUNT_AFTER, row["last_failure"], ACCOUNT_MAX_SECONDS, now)
    return max(pair, address, account)


async def record_attempt(
    conn: Connection, tenant_id: int | None, email: str, client_ip: str | None, *, success: bool, now: dt.datetime
) -> None:
    await conn.execute(
        "INSERT INTO public.admin_signin (tenant_id, email, client_ip, success, at) VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        email[:MAX_EMAIL],
        client_ip,
        success,
        now,
    )


async def refuse_unknown_tenant(conn: Connection, email: str, client_ip: str | None, *, now: dt.datetime) -> NoReturn:
    """A sign-in on a tenant that does not exist: counted against the address like any failure (so probing
    slugs is throttled too) and refused with the same words as a wrong password."""
    wait = await throttle_seconds(conn, None, email, client_ip, now=now)
    if wait:
        raise SignInThrottled(f"too many failed sign-ins; try again in {wait} seconds", wait)
    await record_attempt(conn, None, email, client_ip, success=False, now=now)
    raise SignInRefused("wrong email or password")


async def password_signin_allowed(conn: Connection, tenant_id: int) -> bool:
    """False once the tenant has switched password sign-in off (it signs in with its identity provider)."""
    allowed = await conn.fetchval("SELECT password_signin FROM public.tenant_oidc WHERE tenant_id = $1", tenant_id)
    return allowed is None or bool(allowed)


async def sign_in(
    conn: Connection,
    tenant_id: int,
    email: str,
    password: str,
    client_ip: str | None,
    *,
    now: dt.datetime,
    user_agent: str | None = None,
) -> tuple[str, Principal]:
    """Check the password at `now` (the attempt is recorded at that moment); returns (session cookie token,
    principal). Refused cheaply, before any hash: password sign-in switched off (SignInRefused), too many
    failures (SignInThrottled), every check slot busy (SignInBusy). A wrong email or password, or an expired
    invitation, is SignInRefused after the check, recorded for throttling and in the trail."""
    email = email.strip()[:MAX_EMAIL]
    if not await password_signin_allowed(conn, tenant_id):
        raise SignInRefused("password sign-in is switched off for this tenant: sign in with your identity provider")
    wait = await throttle_seconds(conn, tenant_id, email, client_ip, now=now)
    if wait:
        raise SignInThrottled(f"too many failed sign-ins; try again in {wait} seconds", wait)
    row = await conn.fetchrow(
        "SELECT id, email, password_hash, must_change_password, invitation_expires_at FROM public.admin_user "
        "WHERE tenant_id = $1 AND lower(email) = lower($2)",
        tenant_id,
        email,
    )
    ok = await verify_password(row["password_hash"] if row else None, password)
    expired = (
        ok and row is not None and row["invitation_expires_at"] is not None and row["invitation_expires_at"] <= now
    )
    anonymous = Actor(kind=ActorKind.ANONYMOUS, name=email or "(no email)", client_ip=client_ip)
    if not ok or row is None or expired:
        reason = "invitation expired" if expired else "wrong email or password"
        async with conn.transaction():  # the failure counts (and is in the trail) although the sign-in is refused
            await record_attempt(conn, tenant_id, email, client_ip, success=False, now=now)
            await trail.record(
                conn,
                tenant_id,
                anonymous,
                AdminAction.SIGN_IN_FAILED,
                f"password sign-in failed: {reason}",
                outcome=TrailOutcome.REFUSED,
            )
        if expired:
            raise SignInRefused("this invitation has expired; ask an administrator to invite you again")
        raise SignInRefused("wrong email or password")
    async with conn.transaction():
        await record_attempt(conn, tenant_id, email, client_ip, success=True, now=now)
        token, csrf, session_id = await create_session(
            conn, tenant_id, row["id"], method="password", client_ip=client_ip, user_agent=user_agent
        )
        actor = Actor(kind=ActorKind.ADMINISTRATOR, name=row["email"], client_ip=client_ip, admin_id=row["id"])
        await trail.record(conn, tenant_id, actor, AdminAction.SIGNED_IN, "signed in with a password")
    return token, Principal(
        tenant_id=tenant_id,
        admin_id=row["id"],
        email=row["email"],
        csrf_token=csrf,
        must_change_password=row["must_change_password"],
        session_id=session_id,
    )
