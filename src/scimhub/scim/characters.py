"""Which strings a client may send: what PostgreSQL can store, and how long an indexed value may be.

PostgreSQL refuses two kinds of character in `text` and `jsonb`: NUL (U+0000, "invalid byte sequence" /
"unsupported Unicode escape sequence") and the UTF-16 surrogates U+D800..U+DFFF, which have no UTF-8 form (a
JSON body can only carry one as a lone `\\uD800` escape; a filter literal or a query parameter can decode to
one). Every client string is checked once, where it enters (`http/wire.py` for bodies, path segments, query
parameters and the headers we keep; the filter parser for its string literals), and refused with
`invalidValue` (or `invalidFilter` / `invalidPath` by the caller) instead of failing later as a 500 or in
the activity log.

The limits are far above what Entra ID and Okta send (Entra: userPrincipalName <= 113 characters,
displayName <= 256, externalId an objectId of 36 or a mailNickname <= 64) and below what a btree index row
holds (2,704 bytes: `MAX_INDEXED_LENGTH` characters of at most 4 UTF-8 bytes each is 2,048 bytes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from scimhub.scim.errors import InvalidValue

# userName, externalId and displayName are stored in indexed columns (lower(user_name) unique, external_id,
# lower(display_name) of groups): at most this many characters.
MAX_INDEXED_LENGTH = 512
# A path segment (resource type, id) in a SCIM URL; ids scimhub issues are 36-character UUIDs.
MAX_SEGMENT_LENGTH = 256

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A surrogate escape in JSON text that is not half of a pair: high not followed by low, or low alone.
_LONE_SURROGATE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def unstorable(text: str) -> str | None:
    """The first character of `text` PostgreSQL cannot store, as `U+XXXX`; None when every one can."""
    m = _UNSTORABLE.search(text)
    return f"U+{ord(m.group()):04X}" if m else None


def check_text(text: str, where: str) -> None:
    """`invalidValue` when `text` holds a character PostgreSQL cannot store (NUL, a lone surrogate)."""
    bad = unstorable(text)
    if bad is not None:
        raise InvalidValue(f"{where} holds the character {bad}, which cannot be stored; remove it")


def storable(text: str) -> str:
    """`text` with every character PostgreSQL cannot store replaced by U+FFFD (for what we record about a
    request, never for the data itself)."""
    return _UNSTORABLE.sub("\ufffd", text)


def has_lone_surrogate_escape(raw: bytes) -> bool:
    """Does JSON text `raw` hold a `\\uD800`-style escape that is not half of a surrogate pair? (Read only to
    word the error for a body the JSON decoder refused.)"""
    return _LONE_SURROGATE_ESCAPE.search(raw) is not None


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """Every string in a decoded JSON document (keys and values), with where it is; iterative, so a deep
    document costs no recursion."""
    stack: list[tuple[Any, str]] = [(value, "the request body")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield item, where
        elif isinstance(item, dict):
            for k, v in item.items():
                yield k, f"a key of {where}"
                stack.append((v, repr(k[:40])))
        elif isinstance(item, list):
            stack.extend((v, where) for v in item)


def check_document(value: Any) -> None:
    """`invalidValue` naming the attribute when any key or string of a decoded JSON body holds a character
    PostgreSQL cannot store. Linear in the document's size."""
    for text, where in _strings(value):
        bad = unstorable(text)
        if bad is not None:
            raise InvalidValue(f"the value of {where} holds the character {bad}, which cannot be stored; remove it")


def check_length(value: Any, name: str, limit: int = MAX_INDEXED_LENGTH) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise InvalidValue(f"{name} is {len(value)} characters long; the limit is {limit}")
