"""The one-way imports, read from the source with `ast`: the rules below are the architecture's, as data.

`MAY_IMPORT` names, for each part of `src/scimhub` (a package, or a top-level module), every other part it may
import; a part imports nothing of scimhub beyond its row. Every import counts, also one inside a function or
under `if TYPE_CHECKING:` (a type is a dependency too). A new part of scimhub fails
`test_every_part_of_scimhub_has_a_row` until it is given its row here (and in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "scimhub"

MAY_IMPORT: dict[str, frozenset[str]] = {
    # The protocol: SCIM's rules, pure (no I/O), nothing of scimhub.
    "scim": frozenset(),
    # The environment, read once into a frozen Struct.
    "settings": frozenset(),
    # Tenants, tokens, roles, schemas, the connections and `tenant_transaction`, the settings rules.
    "tenancy": frozenset(),
    # Every Celery task's name, queue, payload and schedule; the Celery app's configuration.
    "tasks": frozenset({"settings"}),
    "queue": frozenset({"redis_clients", "settings", "tasks"}),
    # The one factory of Redis clients (redis://, rediss://, Sentinel) for every part that talks to Redis.
    "redis_clients": frozenset({"settings"}),
    # Logging and Sentry (which knows that a ScimError is the client's mistake, not a bug).
    "observability": frozenset({"scim", "settings"}),
    # Tenant data: tables and SQL, the filter compiler.
    "store": frozenset({"scim", "tenancy"}),
    # The activity log: its vocabulary, events, outbox, drain, queries.
    "audit": frozenset({"scim", "store", "tenancy"}),
    "metrics": frozenset({"audit", "redis_clients"}),
    # Change events (#14): positions, the feed, webhook endpoints and their signed deliveries. As `audit/`,
    # plus the settings (retention, retry schedule, safe targets) and `admins` (a disabled endpoint's trail
    # entry, mailed to the administrators by the security-notice machinery).
    "events": frozenset({"admins", "scim", "settings", "store", "tenancy"}),
    # Failure digests and security notices (the admin trail's, read through `admins.notices`), their delivery.
    "notify": frozenset({"admins", "audit", "metrics", "observability", "settings", "tenancy"}),
    # Tenant administrators: accounts, sessions, scoped API keys, sign-in (password, OIDC), the admin trail.
    "admins": frozenset({"scim", "tenancy"}),
    # The SCIM use cases, one transaction each.
    "provisioning": frozenset({"audit", "events", "scim", "store", "tenancy"}),
    # The web layer: SCIM endpoints, the hub, the admin API, health; it calls the layers below.
    "http": frozenset(
        {
            "admins",
            "audit",
            "events",
            "metrics",
            "notify",
            "observability",
            "provisioning",
            "queue",
            "redis_clients",
            "scim",
            "settings",
            "tasks",
            "tenancy",
        }
    ),
    # Composition and entry points.
    "app": frozenset({"http", "settings"}),
    "asgi": frozenset({"app", "observability", "settings"}),
    "cli": frozenset({"admins", "audit", "events", "scim", "settings", "tenancy"}),
}

# Libraries a part may not import: the protocol stays free of the web framework, the database and the queue.
MAY_NOT_IMPORT_LIBRARIES: dict[str, frozenset[str]] = {
    "scim": frozenset({"litestar", "piccolo", "asyncpg", "redis", "celery", "sentry_sdk", "jinja2"}),
}
# The web framework stays in the web layer (and the factory that composes it).
LITESTAR_ONLY_IN = frozenset({"http", "app"})

# Beside src/: the workers never import the web layer; nothing but the tests imports the tests.
WORKERS_MAY_NOT_IMPORT = frozenset({"http", "app", "asgi"})
NEVER_IMPORTS_TESTS = ("src", "workers", "ops", "migrations")


def _modules(path: Path, tree: ast.AST) -> Iterator[str]:
    """Every module name `path` imports (relative imports resolved; `from a import b` yields `a.b` too)."""
    package = path.relative_to(ROOT / "src" if path.is_relative_to(ROOT / "src") else ROOT).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _part(module: str) -> str | None:
    """The part of scimhub a module name belongs to (`scimhub.http.hub.session` -> `http`), or None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "scimhub" and len(parts) > 1 else None


def _sources(*roots: str) -> list[Path]:
    return sorted(p for r in roots for p in (ROOT / r).rglob("*.py"))


def _violations_of_src() -> list[str]:
    found = []
    for path in _sources("src"):
        rel = path.relative_to(SRC)
        part = rel.parts[0].removesuffix(".py")
        if part == "__init__":
            continue
        allowed = MAY_IMPORT.get(part, frozenset())
        for module in set(_modules(path, ast.parse(path.read_text()))):
            target = _part(module)
            top = module.split(".")[0]
            if target is not None and target != part and target not in allowed:
                found.append(f"{rel} imports {module} ({part} may import {sorted(allowed) or 'nothing of scimhub'})")
            if top in MAY_NOT_IMPORT_LIBRARIES.get(part, frozenset()):
                found.append(f"{rel} imports {module} (the {part} package stays free of {top})")
            if top == "litestar" and part not in LITESTAR_ONLY_IN:
                found.append(f"{rel} imports {module} (Litestar belongs to {sorted(LITESTAR_ONLY_IN)})")
    return found


def test_every_part_of_scimhub_has_a_row() -> None:
    parts = {p.name.removesuffix(".py") for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert parts - {"__init__"} == set(MAY_IMPORT)


def test_src_imports_go_one_way() -> None:
    assert _violations_of_src() == []


def test_the_rules_are_acyclic() -> None:
    """No two parts may import each other, directly or through others: one way means an order exists."""
    done: set[str] = set()

    def visit(part: str, trail: tuple[str, ...]) -> None:
        assert part not in trail, " -> ".join([*trail, part])
        if part not in done:
            for below in MAY_IMPORT[part]:
                visit(below, (*trail, part))
            done.add(part)

    for part in MAY_IMPORT:
        visit(part, ())


def test_workers_never_import_the_web_layer() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _sources("workers")
        for module in _modules(path, ast.parse(path.read_text()))
        if _part(module) in WORKERS_MAY_NOT_IMPORT
    ]
    assert found == []


@pytest.mark.parametrize("root", NEVER_IMPORTS_TESTS)
def test_only_tests_import_tests(root: str) -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _sources(root)
        for module in _modules(path, ast.parse(path.read_text()))
        if module == "tests" or module.startswith("tests.")
    ]
    assert found == []


def test_the_checker_sees_a_violation() -> None:
    """The reader of imports finds what a forbidden import would look like (so an empty list means something)."""
    tree = ast.parse("from scimhub.http import scim\nimport litestar\nfrom . import errors\n")
    names = set(_modules(SRC / "scim" / "patch.py", tree))
    assert {"scimhub.http", "scimhub.http.scim", "litestar", "scimhub.scim.errors"} <= names
    assert _part("scimhub.http.scim") == "http" and _part("scimhub") is None
