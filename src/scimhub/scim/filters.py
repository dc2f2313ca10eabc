"""Filters (RFC 7644 §3.4.2.2) and attribute paths (§3.5.2): one parser, resolution, an in-memory matcher.

`parse_filter` turns the text into a typed tree; `parse_path` reads a PATCH path with the same parser (the
grammar's `attrPath` / `valuePath`, plus `.subAttr`); `split_attr_path` is the one splitter of
`urn:...:name.sub` used by both and by `sortBy` and projection. `bind` resolves every attribute path against a
resource type (unknown attribute -> `invalidFilter`, never "match all") and checks the comparison value's
type (`scim/filter_binding.py`). The SQL compiler (`store/filter_sql.py`) and the in-memory matcher
(`scim/matching.py`: PATCH value paths, the compiler's property-test oracle) both read the bound tree.

Grammar accepted (ABNF of §3.4.2.2, plus `valuePath.subAttr op value`, which Entra sends for matching on
`emails[type eq "work"].value eq "..."`): operators and keywords case-insensitive; precedence not > and > or.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from scimhub.scim.characters import unstorable
from scimhub.scim.errors import InvalidFilter, InvalidPath
from scimhub.scim.schemas import ResolvedAttr

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
# Nesting of parentheses, `not (...)` and `attr[...]` as written.
MAX_DEPTH = 64
# Depth of the tree the parser builds. A chain `a or b or c ...` becomes a balanced tree (and, or are
# associative), so its depth grows with the logarithm of its length; every function that walks a filter
# (bind, the SQL compiler, the matcher, the projection) recurses at most this deep, whatever the input.
MAX_TREE_DEPTH = 160

# ----------------------------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class AttrPath:
    urn: str | None
    name: str
    sub: str | None = None
    resolved: ResolvedAttr | None = None

    def __str__(self) -> str:
        text = self.name if self.sub is None else f"{self.name}.{self.sub}"
        return f"{self.urn}:{text}" if self.urn else text


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Any  # str, bool, int, float, None, or datetime once bound to a dateTime attribute


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class ValuePath:
    """`attr[filter]`: true when one element of multi-valued `attr` satisfies `filter` (same element)."""

    path: AttrPath
    filter: Node


Node = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PathExpr:
    """An attribute path as written, not yet resolved: RFC 7644 §3.5.2's `PATH = attrPath / valuePath
    [subAttr]`. `attr[filter].sub` has `filter` (its paths relative to `attr`) and `sub`."""

    attr: AttrPath
    filter: Node | None = None
    sub: str | None = None


# ---------------------------------------------------------------------------------------------- lexer

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<lpar>\() | (?P<rpar>\)) | (?P<lbr>\[) | (?P<rbr>\]) |
      (?P<string>"(?:[^"\\]|\\.)*") |
      (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w:.$-])) |
      (?P<word>[A-Za-z$][\w:.$-]*) |
      (?P<dot>\.)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


_TRAILING_SPACE = re.compile(r"\s*\Z")


def _lex(text: str) -> list[_Tok]:
    """Tokens in one left-to-right pass (linear in the text's length)."""
    toks: list[_Tok] = []
    pos = 0
    n = len(text)
    while pos < n:
        if _TRAILING_SPACE.match(text, pos):
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidFilter(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos + 1}")
        kind = m.lastgroup or ""
        toks.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return toks


def split_attr_path(word: str) -> AttrPath:
    """`urn:...:name.sub` / `name.sub` / `name` -> AttrPath, not yet resolved (RFC 7644 §3.10: the URN is
    everything up to the last colon; RFC 7643 §2.1: at most one level of sub-attribute)."""
    urn: str | None = None
    rest = word
    if ":" in word:
        urn, _, rest = word.rpartition(":")
        if not urn or not rest:
            raise InvalidPath(f"malformed attribute path {word!r}")
    parts = rest.split(".")
    if len(parts) > 2 or not all(parts):
        raise InvalidPath(f"malformed attribute path {word!r}")
    return AttrPath(urn, parts[0], parts[1] if len(parts) == 2 else None)


# --------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, *, what: str = "filter") -> None:
        self.toks = _lex(text)
        self.i = 0
        self.depth = 0
        self.what = what  # "filter" or "path", for the error messages

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise InvalidFilter(f"the {self.what} ends too early")
        if kind and tok.kind != kind:
            raise InvalidFilter(f"expected {kind} at position {tok.pos + 1}, found {tok.text!r}")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text.lower() == word

    def parse(self) -> Node:
        node, _ = self.or_expr()
        self.end()
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidFilter(f"the {self.what} nests deeper than {MAX_DEPTH} levels")

    def _balanced(self, terms: list[_Sized], join: type[And] | type[Or]) -> _Sized:
        """`t1 op t2 op ... tn` as a balanced tree, operands kept in order (and, or are associative)."""
        while len(terms) > 1:
            paired: list[_Sized] = [
                (join(terms[i][0], terms[i + 1][0]), 1 + max(terms[i][1], terms[i + 1][1]))
                for i in range(0, len(terms) - 1, 2)
            ]
            if len(terms) % 2:
                paired.append(terms[-1])
            terms = paired
        return _checked(terms[0], self.what)

    def or_expr(self) -> _Sized:
        terms = [self.and_expr()]
        while self.keyword("or"):
            self.take()
            terms.append(self.and_expr())
        return self._balanced(terms, Or)

    def and_expr(self) -> _Sized:
        terms = [self.unary()]
        while self.keyword("and"):
            self.take()
            terms.append(self.unary())
        return self._balanced(terms, And)

    def unary(self) -> _Sized:
        self._enter()
        try:
            if self.keyword("not") and (nxt := self.peek(1)) is not None and nxt.kind == "lpar":
                self.take()
                self.take("lpar")
                inner, depth = self.or_expr()
                self.take("rpar")
                return _checked((Not(inner), depth + 1), self.what)
            tok = self.peek()
            if tok is not None and tok.kind == "lpar":
                self.take()
                inner_sized = self.or_expr()
                self.take("rpar")
                return inner_sized
            return self.attr_expr()
        finally:
            self.depth -= 1

    def end(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise InvalidFilter(f"unexpected {tok.text!r} at position {tok.pos + 1}")

    def path(self) -> tuple[PathExpr, int]:
        """`attrPath [ "[" valFilter "]" [ "." subAttr ] ]`: the PATCH PATH of RFC 7644 §3.5.2 and the head of
        every filter comparison (§3.4.2.2, plus Entra's `valuePath.subAttr`); with the depth of its filter."""
        tok = self.take()
        if tok.kind != "word":
            raise InvalidFilter(f"expected an attribute name at position {tok.pos + 1}, found {tok.text!r}")
        try:
            attr = split_attr_path(tok.text)
        except InvalidPath as exc:
            raise InvalidFilter(exc.detail) from None
        nxt = self.peek()
        if nxt is None or nxt.kind != "lbr":
            return PathExpr(attr), 0
        if attr.sub is not None:
            raise InvalidFilter(f"a value filter must follow a multi-valued attribute, not {tok.text!r}")
        self.take()
        inner, depth = self.or_expr()
        self.take("rbr")
        after = self.peek()
        if after is None or after.kind != "dot":
            return PathExpr(attr, inner), depth
        self.take()
        return PathExpr(attr, inner, self.take("word").text), depth

    def attr_expr(self) -> _Sized:
        expr, depth = self.path()
        if expr.filter is None:
            return self.comparison(expr.attr), 1
        if expr.sub is None:
            return _checked((ValuePath(expr.attr, expr.filter), depth + 1), self.what)
        # `emails[type eq "work"].value eq "x"` (Entra's matching on a work email, contract §2.3)
        # dialect.VALUE_PATH_SUB_ATTRIBUTE_FILTER
        leaf = AttrPath(expr.attr.urn, expr.attr.name, expr.sub)
        node = ValuePath(expr.attr, And(expr.filter, _relative(self.comparison(leaf))))
        return _checked((node, depth + 2), self.what)

    def comparison(self, path: AttrPath) -> Node:
        op_tok = self.take()
        op = op_tok.text.lower()
        if op_tok.kind != "word" or (op not in COMPARE_OPS and op != "pr"):
            raise InvalidFilter(
                f"expected an operator after {path} at position {op_tok.pos + 1}, found {op_tok.text!r}"
            )
        if op == "pr":
            return Present(path)
        val = self.take()
        if val.kind == "string":
            try:
                value: Any = json.loads(val.text)
            except ValueError:
                raise InvalidFilter(f"malformed string at position {val.pos + 1}") from None
            bad = unstorable(value)
            if bad is not None:
                raise InvalidFilter(f"the string at position {val.pos + 1} holds {bad}, which no stored value can hold")
        elif val.kind == "number":
            value = _number(val)
        elif val.kind == "word" and val.text.lower() in {"true", "false", "null"}:
            value = {"true": True, "false": False, "null": None}[val.text.lower()]
        else:
            raise InvalidFilter(
                f"the value compared with {path} at position {val.pos + 1} must be a quoted string, a number, "
                f"true, false or null; found {val.text!r}"
            )
        return Compare(path, op, value)


_Sized = tuple[Node, int]  # a parsed node and the depth of its tree


def _checked(sized: _Sized, what: str) -> _Sized:
    if sized[1] > MAX_TREE_DEPTH:
        raise InvalidFilter(f"the {what} is too deeply nested (a tree deeper than {MAX_TREE_DEPTH} levels)")
    return sized


def _number(tok: _Tok) -> int | float:
    try:
        value: int | float = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise InvalidFilter(f"the number at position {tok.pos + 1} is too long") from None
    if not math.isfinite(value):
        raise InvalidFilter(f"the number at position {tok.pos + 1} is out of range")
    return value


def _relative(node: Node) -> Node:
    """Inside `attr[...]`, `attr.sub` is addressed as `sub` (the element's own sub-attribute)."""
    if isinstance(node, Compare) and node.path.sub:
        return Compare(AttrPath(None, node.path.sub), node.op, node.value)
    if isinstance(node, Present) and node.path.sub:
        return Present(AttrPath(None, node.path.sub))
    return node


def _not_repeating_secrets(text: str, what: str, exc: InvalidFilter) -> InvalidFilter:
    """A parse error's detail quotes tokens of the text; for a text that names `password` it must not (the
    detail reaches the activity log), so it says only what is wrong."""
    if "password" in text.lower():
        return InvalidFilter(f"the {what} is malformed; it names password, so its text is not repeated here")
    return exc


def parse_filter(text: str, *, max_length: int = 4096) -> Node:
    """A filter (RFC 7644 §3.4.2.2) as a tree, not yet bound; `invalidFilter` for anything unreadable."""
    if len(text) > max_length:
        raise InvalidFilter(f"the filter is {len(text)} characters long; the limit is {max_length}")
    if not text.strip():
        raise InvalidFilter("the filter is empty")
    try:
        return _Parser(text).parse()
    except InvalidFilter as exc:
        raise _not_repeating_secrets(text, "filter", exc) from None


def parse_path(text: str, *, max_length: int = 4096) -> PathExpr:
    """A PATCH path (RFC 7644 §3.5.2: `attrPath`, `valuePath`, `valuePath.subAttr`) by the filter grammar's
    own parser, so a path and a filter read `attr[filter].sub` alike; `invalidFilter` for anything
    unreadable (`scim.quirks.parse_target` reports it as `invalidPath`)."""
    if len(text) > max_length:
        raise InvalidFilter(f"the path is {len(text)} characters long; the limit is {max_length}")
    if not text.strip():
        raise InvalidFilter("the path is empty")
    try:
        parser = _Parser(text, what="path")
        expr, _ = parser.path()
        parser.end()
    except InvalidFilter as exc:
        raise _not_repeating_secrets(text, "path", exc) from None
    return expr


def names_password(node: Node) -> bool:
    """Does the (bound or unbound) filter compare or test an attribute named `password` (any case, any URN,
    inside a value path too)? The activity log's redaction asks. Iterative."""
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, And | Or):
            stack.extend((n.left, n.right))
        elif isinstance(n, Not):
            stack.append(n.inner)
        elif isinstance(n, ValuePath):
            if _is_password(n.path):
                return True
            stack.append(n.filter)
        elif _is_password(n.path):
            return True
    return False


def path_names_password(expr: PathExpr) -> bool:
    """Does a PATCH path address `password` (as the attribute, or inside its value filter)?"""
    return _is_password(expr.attr) or (expr.filter is not None and names_password(expr.filter))


def _is_password(path: AttrPath) -> bool:
    return path.name.lower() == "password" or (path.sub or "").lower() == "password"
