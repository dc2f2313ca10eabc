"""Webhook delivery, run in the test process against a real HTTP receiver (`events.delivery`, what the
worker's `webhook.deliver` task runs): signatures, order, retries, refusals, disabling, safe targets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import msgspec
import pytest

from scimhub.events import delivery, webhooks
from scimhub.events.targets import UnsafeTarget, check_url, resolve
from scimhub.http.services import Services
from scimhub.settings import Settings
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.change_events import sequence
from tests.support.factories import patch_body
from tests.support.receiver import Receiver
from tests.support.scim import Scim
from tests.support.tenants import TenantHandle

ALLOW = {"webhook_allow_private": True, "webhook_retry_seconds": "0", "webhook_timeout_seconds": 5.0}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


def _settings(settings: Settings, **overrides: object) -> Settings:
    return msgspec.structs.replace(settings, **{**ALLOW, **overrides})


async def _endpoint(
    services: Services, t: TenantHandle, url: str, events: str | None = None
) -> webhooks.CreatedEndpoint:
    async with tenant_transaction(services.db.pool, t.tenant) as conn:
        return await webhooks.add_endpoint(
            conn, url, events, secret_key=services.settings.secret_key, allow_private=True
        )


async def _deliveries(services: Services, t: TenantHandle, endpoint_id: uuid.UUID) -> list[webhooks.Delivery]:
    async with tenant_transaction(services.db.pool, t.tenant) as conn:
        return list(reversed(await webhooks.list_deliveries(conn, endpoint_id, limit=1000)))


async def test_events_arrive_signed_in_position_order_filtered_by_pattern(
    scim: Scim, services: Services, tenant: TenantHandle, receiver: Receiver
) -> None:
    made = await _endpoint(services, tenant, receiver.url)
    groups_only = await _endpoint(services, tenant, receiver.url.replace("/hook", "/groups"), "group.*")
    assert made.secret.startswith("whsec_")
    user = await scim.create_user()
    group = await scim.create_group(members=[{"value": user["id"]}])
    patch = patch_body({"op": "replace", "path": "displayName", "value": "x"})
    assert (await scim.req("PATCH", f"/Users/{user['id']}", patch)).status_code == 204
    await sequence(services.db.pool, tenant.tenant)
    settings = _settings(services.settings)
    got = await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)
    assert got.delivered == 4 + 2
    every = receiver.verified(made.secret, "/hook")
    assert [p["type"] for p in every] == ["user.created", "group.created", "group.member_added", "user.updated"]
    assert [p["position"] for p in every] == [1, 2, 3, 4]
    groups = receiver.verified(groups_only.secret, "/groups")
    assert [p["position"] for p in groups] == [2, 3]
    assert all(p["resource_id"] == group["id"] and p["tenant"] == tenant.slug for p in groups)
    assert every[3]["data"]["changed"] == ["displayName"] and every[3]["data"]["resource"]["displayName"] == "x"
    with pytest.raises(Exception, match="signature"):
        receiver.verified(made.secret, "/groups")  # another endpoint's secret does not verify
    # Caught up: a second run sends nothing.
    assert (await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)).delivered == 0
    assert len(receiver.received) == 6


async def test_a_5xx_is_retried_a_410_or_400_is_recorded_and_skipped(
    scim: Scim, services: Services, tenant: TenantHandle, receiver: Receiver
) -> None:
    made = await _endpoint(services, tenant, receiver.url)
    answers = iter([503, 200, 410, 400, 200])
    receiver.answer = lambda _r: (next(answers), {})
    for _ in range(4):
        await scim.create_user()
    await sequence(services.db.pool, tenant.tenant)
    settings = _settings(services.settings)
    first = await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)
    assert first.delivered == 0 and first.retry_in == 0  # the 503: waits for its retry
    second = await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)
    assert second.delivered == 2 and second.failed == 2
    sent = [p["position"] for p in receiver.payloads()]
    assert sent == [1, 1, 2, 3, 4]  # the 503 retried once; 410 (2) and 400 (3) never again
    rows = await _deliveries(services, tenant, made.endpoint.id)
    assert [(d.position, d.attempt, d.status, d.response_status) for d in rows] == [
        (1, 1, "retrying", 503),
        (1, 2, "delivered", 200),
        (2, 1, "failed", 410),
        (3, 1, "failed", 400),
        (4, 1, "delivered", 200),
    ]
    assert rows[0].next_attempt_at is not None and all(d.latency_ms is not None for d in rows)
    assert (await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)).delivered == 0
    assert len(receiver.received) == 5


async def test_an_endpoint_failing_for_the_window_is_disabled_once_with_a_trail_notice(
    scim: Scim, services: Services, tenant: TenantHandle, receiver: Receiver, admin: asyncpg.Connection
) -> None:
    made = await _endpoint(services, tenant, receiver.url)
    receiver.answer = lambda _r: (500, {})
    await scim.create_user()
    await sequence(services.db.pool, tenant.tenant)
    settings = _settings(services.settings, webhook_disable_after_seconds=0.0)
    first = await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)
    assert not first.disabled  # one failure is not a window of failures
    second = await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)
    assert second.disabled == [receiver.url]
    assert (await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)).disabled == []
    assert len(receiver.received) == 2
    async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
        endpoint = await webhooks.get_endpoint(conn, made.endpoint.id)
    assert not endpoint.enabled and endpoint.disabled_at is not None and endpoint.cursor == 0
    rows = await admin.fetch(
        "SELECT action, notice FROM public.admin_trail WHERE tenant_id = $1 AND action LIKE 'webhook.%'",
        tenant.tenant.id,
    )
    assert [(r["action"], r["notice"]) for r in rows] == [("webhook.disabled", "pending")]
    # Enabled again, it resumes where it stopped.
    receiver.answer = lambda _r: (200, {})
    async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
        await webhooks.enable_endpoint(conn, made.endpoint.id)
    assert (await delivery.deliver_tenant(services.db.pool, tenant.tenant, settings)).delivered == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "http://example.com/hook",
        "https://user:pw@example.com/hook",
        "ftp://example.com/hook",
    ],
)
def test_unsafe_webhook_urls_are_refused_when_private_targets_are_not_allowed(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_url(url, allow_private=False)


async def test_a_name_resolving_to_loopback_is_refused_after_dns() -> None:
    with pytest.raises(UnsafeTarget, match="resolves to"):
        await resolve("https://localhost/hook", allow_private=False)
    assert await resolve("http://localhost:1/hook", allow_private=True)


async def test_delivery_rechecks_the_target_and_never_follows_a_redirect(
    scim: Scim, services: Services, tenant: TenantHandle, receiver: Receiver
) -> None:
    """An endpoint added while private targets were allowed is refused at delivery once they are not (nothing
    reaches it); a redirect to the metadata address is not followed, and counts as a failed attempt."""
    made = await _endpoint(services, tenant, receiver.url)
    await scim.create_user()
    await sequence(services.db.pool, tenant.tenant)
    strict = _settings(services.settings, webhook_allow_private=False)
    got = await delivery.deliver_tenant(services.db.pool, tenant.tenant, strict)
    assert got.delivered == 0 and receiver.received == []
    (refused,) = await _deliveries(services, tenant, made.endpoint.id)
    assert refused.status == "retrying" and refused.error and refused.error.startswith("refused:")
    receiver.answer = lambda _r: (302, {"location": "http://169.254.169.254/latest/meta-data/"})
    got = await delivery.deliver_tenant(services.db.pool, tenant.tenant, _settings(services.settings))
    assert got.delivered == 0 and len(receiver.received) == 1
    rows = await _deliveries(services, tenant, made.endpoint.id)
    assert rows[-1].response_status == 302 and rows[-1].error == "redirect (never followed)"


async def test_adding_refuses_bad_urls_and_patterns_and_changes_nothing(
    services: Services, tenant: TenantHandle
) -> None:
    async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
        with pytest.raises(UnsafeTarget):
            await webhooks.add_endpoint(conn, "https://127.0.0.1/x", None, secret_key="k", allow_private=False)
        with pytest.raises(ValueError, match="unknown event type"):
            await webhooks.add_endpoint(
                conn, "https://example.com/x", "user.exploded", secret_key="k", allow_private=False
            )
        assert await webhooks.list_endpoints(conn) == []
