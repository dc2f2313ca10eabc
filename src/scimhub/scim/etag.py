"""Entity tags and conditional requests (RFC 7644 §3.14, RFC 7232).

A resource's entity tag is its version number as a weak tag, `W/"<version>"` (RFC 7232 §2.3); the same text
is the resource's `meta.version` (RFC 7643 §3.1) and its `ETag` response header. The version grows by one
with every change, so two representations with the same tag are the same resource state.

Both conditions compare tags weakly (RFC 7232 §2.3.2: `W/"3"` matches `"3"` and `W/"3"`). RFC 7232 §3.1 asks
`If-Match` for the strong comparison, but every tag this service hands out is weak, and a strong comparison
never matches a weak tag: `If-Match` would refuse every write. RFC 7644 §3.14 leaves the choice of tags to the
service provider; weak tags with a weak comparison are what SCIM clients send back.
"""

from __future__ import annotations

from scimhub.scim.errors import PreconditionFailed

ANY = "*"  # RFC 7232 §3.1 / §3.2: "*" matches any current representation


def etag(version: int) -> str:
    """The weak entity tag of a resource at `version`: `W/"7"`."""
    return f'W/"{version}"'


def _opaque(tag: str) -> str:
    """The opaque part of an entity tag: what the weak comparison compares (RFC 7232 §2.3.2)."""
    return tag.strip().removeprefix("W/")


def _tags(header: str) -> list[str]:
    """The entity tags of an `If-Match` / `If-None-Match` value: `"*"` or a comma-separated list."""
    return [t.strip() for t in header.split(",")]


def matches_any(header: str, current: str) -> bool:
    """Does `header` (an `If-Match` or `If-None-Match` value) name `current`, or `*`? Weak comparison."""
    tags = _tags(header)
    return ANY in tags or any(_opaque(t) == _opaque(current) for t in tags)


def check_if_match(if_match: str | None, version: int, resource_type: str) -> None:
    """RFC 7232 §3.1, RFC 7644 §3.14: a write with `If-Match` goes ahead only when a listed tag is the
    resource's current one (or `*`); otherwise `PreconditionFailed` (412), saying what to do. No header: no
    condition."""
    if if_match is None:
        return
    current = etag(version)
    if not matches_any(if_match, current):
        raise PreconditionFailed(
            f"the {resource_type} changed since the version you sent ({if_match}); it is now {current}. "
            "Read it again and retry."
        )


def if_match_tags(if_match: str | None) -> list[str] | None:
    """The opaque tags an `If-Match` value accepts, for a condition checked in SQL: a version `v` matches
    when `'"v"'` is one of them (what `check_if_match` compares). None: no condition (no header, or `*`)."""
    if if_match is None:
        return None
    tags = _tags(if_match)
    return None if ANY in tags else [_opaque(t) for t in tags]


def not_modified(if_none_match: str | None, version: int) -> bool:
    """RFC 7232 §3.2, RFC 7644 §3.14: a GET with `If-None-Match` naming the current tag (or `*`) is answered
    `304 Not Modified` without a body. No header: always False."""
    return if_none_match is not None and matches_any(if_none_match, etag(version))
