"""`attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9).

Names are case-insensitive, may be URN-qualified or name a sub-attribute. `id` and `schemas` are always
returned ("returned: always"). Unknown names are ignored. A value filter written in the list (the MS
collection's `attributes=emails[type eq "work"]`) is read as the attribute it filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimhub.scim.errors import InvalidFilter, InvalidValue
from scimhub.scim.filters import parse_path
from scimhub.scim.schemas import ResourceType, resolve

_ALWAYS = {"id", "schemas"}
Spec = dict[tuple[str, str], set[str] | None]  # (schema id, attribute) -> None (whole) or sub-attributes


@dataclass(frozen=True)
class Projection:
    include: Spec | None = None
    exclude: Spec | None = None

    def returns(self, rtype: ResourceType, name: str) -> bool:
        """Will the top-level core attribute `name` appear in the output at all?"""
        key = (rtype.schema.id, name)
        if self.include is not None:
            return key in self.include
        if self.exclude is not None:
            return not (key in self.exclude and self.exclude[key] is None)
        return True


def _parse(rtype: ResourceType, text: Any) -> Spec | None:
    if text is None:
        return None
    if not isinstance(text, str | list):
        raise InvalidValue("attributes and excludedAttributes are attribute names, comma-separated or a list")
    items = text if isinstance(text, list) else text.split(",")
    spec: Spec = {}
    for raw in items:
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            expr = parse_path(raw)
        except InvalidFilter:
            continue
        # `emails[type eq "work"]` reads as `emails` (dialect.PROJECTION_VALUE_FILTER)
        path = expr.attr
        res = resolve(rtype, path.urn, path.name, path.sub)
        if res is None:
            continue
        key = _ext_key(res.schema.id, res.attr.name) if res.extension else (res.schema.id, res.attr.name)
        if res.sub is None:
            spec[key] = None
        elif key not in spec or spec[key] is not None:
            subs = spec.get(key) or set()
            subs.add(res.sub.name)
            spec[key] = subs
    return spec


def _ext_key(urn: str, name: str) -> tuple[str, str]:
    """Extension keys compare in any case (a lenient tenant stores undeclared ones as sent)."""
    return urn.lower(), name.lower()


def parse_projection(rtype: ResourceType, attributes: Any, excluded: Any) -> Projection:
    """The projection a request asks for (query-string text or SearchRequest lists). The two parameters are
    mutually exclusive (RFC 7644 §3.4.2.5); given both, `attributes` wins."""
    include = _parse(rtype, attributes)
    if include is not None and not include:
        include = None
    return Projection(include=include, exclude=None if include is not None else _parse(rtype, excluded))


def _pick(value: Any, subs: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in subs} or None
    if isinstance(value, list):
        picked = [_pick(v, subs) for v in value]
        return [p for p in picked if p] or None
    return value


def _drop(value: Any, subs: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in subs} or None
    if isinstance(value, list):
        kept = [_drop(v, subs) for v in value]
        return [k for k in kept if k] or None
    return value


def apply_projection(resource: dict[str, Any], rtype: ResourceType, proj: Projection) -> dict[str, Any]:
    if proj.include is None and proj.exclude is None:
        return resource
    out: dict[str, Any] = {}
    for key, value in resource.items():
        if key in _ALWAYS:
            out[key] = value
            continue
        if ":" in key and isinstance(value, dict):  # an extension, declared or kept as sent
            inner = {}
            for name, v in value.items():
                kept = _select(_ext_key(key, name), v, proj)
                if kept is not None:
                    inner[name] = kept
            if inner:
                out[key] = inner
            continue
        kept = _select((rtype.schema.id, key), value, proj)
        if kept is not None:
            out[key] = kept
    return out


def _select(key: tuple[str, str], value: Any, proj: Projection) -> Any:
    if proj.include is not None:
        if key not in proj.include:
            return None
        subs = proj.include[key]
        return value if subs is None else _pick(value, subs)
    assert proj.exclude is not None
    if key not in proj.exclude:
        return value
    subs = proj.exclude[key]
    return None if subs is None else _drop(value, subs)
