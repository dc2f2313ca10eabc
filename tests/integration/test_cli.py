"""The operator CLI, run as the installed `scimhub` command against the test database."""

from __future__ import annotations

import getpass
import json
import subprocess
import uuid

import pytest

from tests.support.cli import all_tenants, run
from tests.support.settings import PUBLIC_URL


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def slug() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_tenant_create_json_prints_url_and_token_once(database: str) -> None:
    s = slug()
    r = run(database, "tenant", "create", s, "--name", "Acme", "--notify-email", "ops@acme.test", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["slug"] == s
    assert data["scim_url"] == f"{PUBLIC_URL}/scim/v2/{s}"
    assert data["token"].startswith("shs_")
    listed = all_tenants(database)
    assert data["token"] not in json.dumps(listed)
    assert any(t["slug"] == s and t["notify_emails"] == ["ops@acme.test"] for t in listed)


def test_tenant_create_text_output(database: str) -> None:
    s = slug()
    r = run(database, "tenant", "create", s)
    assert r.returncode == 0
    assert f"Tenant URL:   {PUBLIC_URL}/scim/v2/{s}" in r.stdout
    assert "Secret Token: shs_" in r.stdout


@pytest.mark.parametrize("bad", ["Bad_Slug", "-lead", "trail-", "a" * 64, "sp ace", "ünï", "x;drop"])
def test_bad_slug_is_refused_with_one_line(database: str, bad: str) -> None:
    assert "invalid tenant slug" in one_line_error(run(database, "tenant", "create", "--", bad))


def test_duplicate_slug_is_refused(database: str) -> None:
    s = slug()
    assert run(database, "tenant", "create", s).returncode == 0
    assert "already exists" in one_line_error(run(database, "tenant", "create", s))


@pytest.mark.parametrize(
    "args",
    [
        ("tenant", "disable", "cli-none"),
        ("tenant", "enable", "cli-none"),
        ("tenant", "delete", "cli-none", "--yes"),
        ("tenant", "token", "rotate", "cli-none"),
        ("tenant", "token", "revoke", "cli-none"),
        ("tenant", "set", "cli-none", "--notify", "off"),
    ],
)
def test_unknown_tenant_is_one_clear_line(database: str, args: tuple[str, ...]) -> None:
    assert "no tenant named 'cli-none'" in one_line_error(run(database, *args))


def test_disable_enable_delete(database: str) -> None:
    s = slug()
    assert run(database, "tenant", "create", s).returncode == 0
    assert "off" in run(database, "tenant", "disable", s).stdout
    assert any(t["status"] == "disabled" for t in all_tenants(database) if t["slug"] == s)
    assert "on" in run(database, "tenant", "enable", s).stdout
    dry = run(database, "tenant", "delete", s, "--dry-run")
    assert dry.returncode == 0 and "would drop" in dry.stdout
    assert run(database, "tenant", "delete", s).returncode == 1  # no --yes: refuses
    assert run(database, "tenant", "delete", s, "--yes").returncode == 0
    assert all(t["slug"] != s for t in all_tenants(database))


def test_token_rotate_and_revoke(database: str) -> None:
    s = slug()
    first = json.loads(run(database, "tenant", "create", s, "--json").stdout)["token"]
    r = run(database, "tenant", "token", "rotate", s, "--keep-old-for", "30m", "--json")
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)["token"]
    assert second != first and second.startswith("shs_")
    assert "revoked 2 token(s)" in run(database, "tenant", "token", "revoke", s).stdout


def test_bad_duration_is_a_usage_error(database: str) -> None:
    s = slug()
    run(database, "tenant", "create", s)
    r = run(database, "tenant", "token", "rotate", s, "--keep-old-for", "soon")
    assert r.returncode == 2
    assert "bad duration" in one_line_error(r)


def test_tenant_set_notifications(database: str) -> None:
    s = slug()
    run(database, "tenant", "create", s)
    assert run(database, "tenant", "set", s, "--notify-email", "a@x.test,b@y.test").returncode == 0
    rows = all_tenants(database)
    assert [t["notify_emails"] for t in rows if t["slug"] == s] == [["a@x.test", "b@y.test"]]
    assert "not an email address" in one_line_error(run(database, "tenant", "set", s, "--notify-email", "nope"))


def test_migrate_is_safe_to_rerun(database: str) -> None:
    r = run(database, "migrate")
    assert r.returncode == 0, r.stderr
    assert "public: applied 0" in r.stdout
    assert "migrated:" in r.stdout


def test_migrate_refuses_the_owner_as_app_login_with_one_line(database: str) -> None:
    owner = getpass.getuser()  # the login of a URL that names none (the test database's owner)
    r = run(database, "migrate", env={"SCIMHUB_APP_DATABASE_URL": f"postgresql://{owner}@127.0.0.1:5432/x"})
    assert "give the web and workers a login of their own" in one_line_error(r)


def test_bad_setting_fails_with_one_line(database: str) -> None:
    r = run(database, "tenant", "list", env={"SCIMHUB_PUBLIC_URL": "ftp://nowhere"})
    assert "SCIMHUB_PUBLIC_URL" in one_line_error(r)
    r = run("postgresql://127.0.0.1:1/none", "tenant", "list")
    assert "database error" in one_line_error(r)


def test_activity_filters_follow_the_vocabulary(database: str) -> None:
    s = slug()
    assert run(database, "tenant", "create", s).returncode == 0
    listed = run(database, "activity", s, "--operation", "List users", "--outcome", "problems")
    assert listed.returncode == 0 and "no activity" in listed.stdout
    r = run(database, "activity", s, "--operation", "Create widget")
    assert r.returncode == 2 and "Unknown operation 'Create widget'" in one_line_error(r)
    r = run(database, "activity", s, "--outcome", "bogus")
    assert r.returncode == 2 and "problems, success, not found, conflict, failure" in one_line_error(r)
    r = run(database, "activity", s, "--since", "yesterday")
    assert r.returncode == 2 and "not a date and time" in one_line_error(r)


def test_recipients_may_be_separated_by_semicolons_and_are_deduplicated(database: str) -> None:
    s = slug()
    run(database, "tenant", "create", s, "--notify-email", "a@x.test; b@y.test, A@X.test")
    rows = all_tenants(database)
    assert [t["notify_emails"] for t in rows if t["slug"] == s] == [["a@x.test", "b@y.test"]]


def test_tenant_list_pages_by_slug_with_a_next_cursor(database: str) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    made = [f"{prefix}-{i}" for i in range(5)]
    for s in made:
        assert run(database, "tenant", "create", s).returncode == 0
    seen: list[str] = []
    after = prefix
    while True:
        page = json.loads(run(database, "tenant", "list", "--json", "--limit", "2", "--after", after).stdout)
        assert len(page["tenants"]) <= 2
        seen += [t["slug"] for t in page["tenants"] if t["slug"].startswith(prefix)]
        if page["next"] is None or not page["next"].startswith(prefix):
            break
        assert page["next"] == page["tenants"][-1]["slug"]
        after = page["next"]
    assert seen == made
    text = run(database, "tenant", "list", "--limit", "2", "--after", prefix)
    assert text.returncode == 0 and f"--after {made[1]}" in text.stdout
    assert made[2] not in text.stdout
    assert "between 1 and 1000" in one_line_error(run(database, "tenant", "list", "--limit", "0"))
    assert "invalid tenant slug" in one_line_error(run(database, "tenant", "list", "--after", "Bad_Slug"))
