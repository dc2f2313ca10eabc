"""Bound filter tree -> parameterised SQL over a tenant's tables.

Only `$n` bind parameters carry client values; the SQL text holds nothing but column names and attribute
names from the schema registry. Indexed columns serve what Entra filters on (userName through the
`lower(user_name)` unique index, externalId, group displayName); everything else reads the JSONB document.
LIKE wildcards in client values are escaped. Value paths keep same-element semantics with
`EXISTS (... jsonb_array_elements ...)`. A predicate under `not` is made NULL-free, so `not (title eq "x")`
matches users without a title, exactly as the in-memory matcher (`scim.matching.matches`) does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from scimhub.scim.errors import InvalidFilter
from scimhub.scim.filters import And, Compare, Node, Not, Or, Present, ValuePath
from scimhub.scim.schemas import GROUP_TYPE, ResolvedAttr, ResourceType

_LIKE = {"co": ("%", "%"), "sw": ("", "%"), "ew": ("%", "")}
_ORDER_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _lit(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class SqlFilter:
    alias: str
    rtype: ResourceType
    params: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    # ----------------------------------------------------------------------------------------- columns

    def _column(self, res: ResolvedAttr) -> tuple[str, str] | None:
        """(SQL expression, kind) for attributes stored as columns; kind: text uuid bool ts const."""
        a = self.alias
        name = res.attr.name
        if res.extension:
            return None
        if res.sub is None:
            if name == "id":
                return f"{a}.id", "uuid"
            if name == "externalId":
                return f"{a}.external_id", "text"
            if self.rtype.name == "User" and name == "userName":
                return f"{a}.user_name", "text"
            if name == "displayName":
                return f"{a}.display_name", "text"
            if self.rtype.name == "User" and name == "active":
                return f"{a}.active", "bool"
        elif name == "meta":
            sub = res.sub.name
            if sub == "created":
                return f"{a}.created", "ts"
            if sub == "lastModified":
                return f"{a}.last_modified", "ts"
            if sub == "resourceType":
                return _lit(self.rtype.name), "text"
            raise InvalidFilter(f"meta.{sub} cannot be filtered on")
        return None

    def _json_text(self, res: ResolvedAttr, base: str) -> str:
        container = f"{base}->{_lit(res.schema.id)}" if res.extension else base
        if res.sub is None:
            return f"({container}->>{_lit(res.attr.name)})"
        return f"({container}->{_lit(res.attr.name)}->>{_lit(res.sub.name)})"

    def _json_value(self, res: ResolvedAttr, base: str) -> str:
        container = f"{base}->{_lit(res.schema.id)}" if res.extension else base
        if res.sub is None:
            return f"({container}->{_lit(res.attr.name)})"
        return f"({container}->{_lit(res.attr.name)}->{_lit(res.sub.name)})"

    def _array(self, res: ResolvedAttr) -> str:
        base = f"{self.alias}.doc"
        container = f"{base}->{_lit(res.schema.id)}" if res.extension else base
        return f"jsonb_array_elements(coalesce({container}->{_lit(res.attr.name)}, '[]'::jsonb))"

    # -------------------------------------------------------------------------------------- predicates

    def compile(self, node: Node, *, nullsafe: bool = False) -> str:
        if isinstance(node, And):
            return f"({self.compile(node.left, nullsafe=nullsafe)} AND {self.compile(node.right, nullsafe=nullsafe)})"
        if isinstance(node, Or):
            return f"({self.compile(node.left, nullsafe=nullsafe)} OR {self.compile(node.right, nullsafe=nullsafe)})"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.inner, nullsafe=True)})"
        if isinstance(node, ValuePath):
            return self._value_path(node)
        res = node.path.resolved
        assert res is not None
        if self.rtype.name == "Group" and res.attr.name == "members":
            return self._members(node)
        if self.rtype.name == "User" and res.attr.name == "groups":
            return self._groups(node)
        if res.attr.multi_valued and res.attr.type != "complex":
            return self._simple_list(node, res, nullsafe=nullsafe)
        if res.attr.multi_valued:
            return self._multi(node, res)
        col = self._column(res)
        if col is not None:
            expr, kind = col
        else:
            expr, kind = self._json_text(res, f"{self.alias}.doc"), _kind_of(res)
            if kind == "bool":
                expr = self._json_value(res, f"{self.alias}.doc")
            elif kind in {"num", "ts"}:
                expr = json_typed(res, self._json_value(res, f"{self.alias}.doc"), kind)
        return self._leaf(node, expr, kind, res, nullsafe=nullsafe)

    def _leaf(self, node: Compare | Present, expr: str, kind: str, res: ResolvedAttr, *, nullsafe: bool) -> str:
        if isinstance(node, Present) or node.value is None:
            present = self._present(expr, kind)
            if isinstance(node, Present) or node.op == "ne":
                return present
            return f"(NOT {present})"
        op, value = node.op, node.value
        if kind == "uuid":
            return self._uuid_cmp(expr, op, value)
        if kind == "bool":
            if expr.endswith(")") and "->" in expr:  # JSONB value
                rhs = f"to_jsonb({self.param(value)}::boolean)"
            else:
                rhs = f"{self.param(value)}::boolean"
            if op == "ne":
                return f"({expr} IS DISTINCT FROM {rhs})"
            return f"coalesce({expr} = {rhs}, false)" if nullsafe else f"({expr} = {rhs})"
        if kind == "ts" and op in _LIKE and res.extension:
            raise InvalidFilter(f"{node.path} is a dateTime; '{op}' compares strings")
        if kind == "num":
            rhs = f"{self.param(str(value))}::numeric"
            if op in _LIKE:
                raise InvalidFilter(f"{node.path} is a number; '{op}' compares strings")
            if op == "ne":
                return f"({expr} IS DISTINCT FROM {rhs})"
            sql = f"({expr} {'=' if op == 'eq' else _ORDER_OPS[op]} {rhs})"
            return f"coalesce({sql}, false)" if nullsafe else sql
        case_exact = res.leaf.case_exact or kind == "ts"
        lhs = expr if case_exact else f"lower({expr})"
        if op in _LIKE:
            pre, post = _LIKE[op]
            pattern = self.param(pre + escape_like(value) + post) + "::text"
            sql = f"({lhs} LIKE {pattern if case_exact else f'lower({pattern})'} ESCAPE '\\')"
            return f"coalesce({sql}, false)" if nullsafe else sql
        if kind == "ts":
            rhs = f"{self.param(value)}::timestamptz"
        else:
            rhs = f"{self.param(value)}::text" if case_exact else f"lower({self.param(value)}::text)"
        if op == "eq":
            sql = f"({lhs} = {rhs})"
        elif op == "ne":
            return f"({lhs} IS DISTINCT FROM {rhs})"
        else:
            collate = "" if kind == "ts" else ' COLLATE "C"'
            sql = f"({lhs}{collate} {_ORDER_OPS[op]} {rhs}{collate})"
        return f"coalesce({sql}, false)" if nullsafe else sql

    def _present(self, expr: str, kind: str) -> str:
        if kind == "text":
            return f"({expr} IS NOT NULL AND {expr} <> '')"
        return f"({expr} IS NOT NULL)"

    def _uuid_cmp(self, expr: str, op: str, value: str) -> str:
        if op in {"eq", "ne"}:
            try:
                parsed = uuid.UUID(value)
            except ValueError:
                return "false" if op == "eq" else "true"
            p = self.param(parsed)
            return f"({expr} = {p})" if op == "eq" else f"({expr} <> {p})"
        text = f"({expr})::text"
        if op in _LIKE:
            pre, post = _LIKE[op]
            return f"({text} LIKE lower({self.param(pre + escape_like(value) + post)}::text) ESCAPE '\\')"
        return f'({text} COLLATE "C" {_ORDER_OPS[op]} lower({self.param(value)}::text) COLLATE "C")'

    def _multi(self, node: Compare | Present, res: ResolvedAttr) -> str:
        elems = self._array(res)
        if res.sub is None:
            present = f"(jsonb_array_length(coalesce({self._json_value(res, self.alias + '.doc')}, '[]'::jsonb)) > 0)"
            if isinstance(node, Present) or node.op == "ne":
                return present
            return f"(NOT {present})"
        inner_res = res
        inner = _Element(self, "e.v")
        if isinstance(node, Compare) and node.op == "ne" and node.value is not None:
            eq = inner.leaf(Compare(node.path, "eq", node.value), inner_res)
            return f"(NOT EXISTS (SELECT 1 FROM {elems} AS e(v) WHERE {eq}))"
        if isinstance(node, Compare) and node.value is None:
            present = inner.leaf(Present(node.path), inner_res)
            exists = f"(EXISTS (SELECT 1 FROM {elems} AS e(v) WHERE {present}))"
            return exists if node.op == "ne" else f"(NOT {exists})"
        exists = f"(EXISTS (SELECT 1 FROM {elems} AS e(v) WHERE {inner.leaf(node, inner_res)}))"
        if (
            self.rtype.name == "User"
            and res.attr.name == "emails"
            and res.sub.name == "value"
            and not res.leaf.case_exact
            and isinstance(node, Compare)
            and node.op == "eq"
            and isinstance(node.value, str)
        ):
            # tenant migrations m0040, m0090: the GIN index of the `emails` column (the lower-cased values, a
            # generated column) finds the candidates, the EXISTS keeps the exact meaning
            return f"({self.alias}.emails @> ARRAY[lower({self.param(node.value)}::text)] AND {exists})"
        return exists

    def _simple_list(self, node: Compare | Present, res: ResolvedAttr, *, nullsafe: bool) -> str:
        """A declared multi-valued simple custom attribute (a JSON list): true when one element matches."""
        value = self._json_value(res, f"{self.alias}.doc")
        elems = f"jsonb_array_elements(CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} ELSE '[]'::jsonb END)"
        present = f"(jsonb_typeof({value}) = 'array' AND jsonb_array_length({value}) > 0)"
        if isinstance(node, Present) or node.value is None:
            return present if isinstance(node, Present) or node.op == "ne" else f"(NOT {present})"
        kind = _kind_of(ResolvedAttr(res.schema, res.attr))
        # `_leaf` compares a boolean as JSONB when its expression is an arrow expression
        expr = {"bool": "(jsonb_build_array(e.v)->0)", "text": "(e.v #>> '{}')"}.get(kind) or json_typed(
            res, "e.v", kind
        )
        if node.op == "ne":
            eq = self._leaf(Compare(node.path, "eq", node.value), expr, kind, res, nullsafe=True)
            return f"(NOT EXISTS (SELECT 1 FROM {elems} AS e(v) WHERE {eq}))"
        inner = self._leaf(node, expr, kind, res, nullsafe=True)
        return f"(EXISTS (SELECT 1 FROM {elems} AS e(v) WHERE {inner}))"

    def _value_path(self, node: ValuePath) -> str:
        res = node.path.resolved
        assert res is not None
        if self.rtype.name == "Group" and res.attr.name == "members":
            return self._members(node.filter)
        if self.rtype.name == "User" and res.attr.name == "groups":
            raise InvalidFilter('groups[...] filters are not supported; use groups.value eq "<group id>"')
        inner = _Element(self, "e.v")
        return f"(EXISTS (SELECT 1 FROM {self._array(res)} AS e(v) WHERE {inner.compile(node.filter)}))"

    def _members(self, node: Node) -> str:
        """A group's members are rows of `scim_group_member`: `members.value eq "id"`, `members[type eq
        "Group"]` hold when one row matches; `ne` holds when no row is equal (RFC 7644 §3.4.2.2 on a
        multi-valued attribute, as `scim.matching.matches` reads it)."""
        rows = f"SELECT 1 FROM scim_group_member m WHERE m.group_id = {self.alias}.id"
        if isinstance(node, Compare) and node.op == "ne" and node.value is not None:
            eq = _MemberRows(self).compile(Compare(node.path, "eq", node.value))
            return f"(NOT EXISTS ({rows} AND {eq}))"
        return f"(EXISTS ({rows} AND {_MemberRows(self).compile(node)}))"

    def _groups(self, node: Compare | Present) -> str:
        res = node.path.resolved
        assert res is not None
        if res.leaf.name != "value":
            raise InvalidFilter("only groups.value can be filtered on")
        base = f"SELECT 1 FROM scim_group_member gm WHERE gm.member_id = {self.alias}.id"
        if isinstance(node, Present) or node.value is None:
            exists = f"EXISTS ({base})"
            return exists if isinstance(node, Present) or node.op == "ne" else f"(NOT {exists})"
        cmp = self._uuid_cmp("gm.group_id", "eq" if node.op == "ne" else node.op, node.value)
        exists = f"EXISTS ({base} AND {cmp})"
        return f"(NOT {exists})" if node.op == "ne" else f"({exists})"


def _kind_of(res: ResolvedAttr) -> str:
    """How a JSONB value compares: booleans as JSON, numbers and dateTimes of custom attributes as numeric and
    timestamptz, everything else as text."""
    if res.leaf.type == "boolean":
        return "bool"
    if res.extension and res.sub is None and res.leaf.type in {"integer", "decimal"}:
        return "num"
    if res.extension and res.sub is None and res.leaf.type == "dateTime":
        return "ts"
    return "text"


def json_typed(res: ResolvedAttr, value: str, kind: str) -> str:
    """A custom number or dateTime read from its JSONB value; NULL when the stored value is of another JSON
    type (a value kept before the attribute was declared never fails a query)."""
    if kind == "num":
        return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::numeric END)"
    return f"(CASE WHEN jsonb_typeof({value}) = 'string' THEN ({value} #>> '{{}}')::timestamptz END)"


def index_expression(rtype: ResourceType, res: ResolvedAttr) -> str:
    """The expression a filter on a declared custom attribute compiles to, over the bare `doc` column (what
    its index is made on, so the planner can use it)."""
    ctx = SqlFilter("x", rtype)
    kind = _kind_of(res)
    if kind == "bool":
        return ctx._json_value(res, "doc")
    if kind == "num":
        return json_typed(res, ctx._json_value(res, "doc"), kind)
    text = ctx._json_text(res, "doc")
    return text if res.leaf.case_exact else f"lower({text})"


class _Element:
    """Compiles the inside of `attr[...]`, where paths name sub-attributes of one array element `e.v`."""

    def __init__(self, outer: SqlFilter, var: str) -> None:
        self.outer = outer
        self.var = var

    def compile(self, node: Node, *, nullsafe: bool = False) -> str:
        if isinstance(node, And):
            return f"({self.compile(node.left, nullsafe=nullsafe)} AND {self.compile(node.right, nullsafe=nullsafe)})"
        if isinstance(node, Or):
            return f"({self.compile(node.left, nullsafe=nullsafe)} OR {self.compile(node.right, nullsafe=nullsafe)})"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.inner, nullsafe=True)})"
        if isinstance(node, ValuePath):
            raise InvalidFilter("value filters cannot nest")
        res = node.path.resolved
        assert res is not None
        return self.leaf(node, res, nullsafe=nullsafe)

    def leaf(self, node: Compare | Present, res: ResolvedAttr, *, nullsafe: bool = False) -> str:
        assert res.sub is not None
        kind = _kind_of(res)
        arrow = "->" if kind == "bool" else "->>"  # a boolean compares as jsonb, everything else as text
        expr = f"({self.var}{arrow}{_lit(res.sub.name)})"
        return self.outer._leaf(node, expr, kind, res, nullsafe=nullsafe)


class _MemberRows:
    """Compiles filters on group members against `scim_group_member m` rows."""

    def __init__(self, outer: SqlFilter) -> None:
        self.outer = outer

    def compile(self, node: Node, *, nullsafe: bool = False) -> str:
        if isinstance(node, And):
            return f"({self.compile(node.left, nullsafe=nullsafe)} AND {self.compile(node.right, nullsafe=nullsafe)})"
        if isinstance(node, Or):
            return f"({self.compile(node.left, nullsafe=nullsafe)} OR {self.compile(node.right, nullsafe=nullsafe)})"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.inner, nullsafe=True)})"
        if isinstance(node, ValuePath):
            raise InvalidFilter("value filters cannot nest")
        res = node.path.resolved
        assert res is not None and res.sub is not None
        sub = res.sub.name
        if sub == "value":
            if isinstance(node, Present):
                return "true"
            if node.value is None:
                return "false" if node.op == "eq" else "true"
            return self.outer._uuid_cmp("m.member_id", node.op, node.value)
        if sub == "type":
            return self.outer._leaf(node, "m.member_type", "text", res, nullsafe=nullsafe)
        raise InvalidFilter(f"members.{sub} cannot be filtered on; use members.value or members.type")


def compile_filter(
    rtype: ResourceType, node: Node | None, alias: str, params: list[Any] | None = None
) -> tuple[str, list[Any]]:
    """(WHERE clause text, bind parameters) for a bound filter; `TRUE` for no filter."""
    ctx = SqlFilter(alias, rtype, params if params is not None else [])
    if node is None:
        return "true", ctx.params
    return ctx.compile(node), ctx.params


def compile_member_filter(node: Node, params: list[Any]) -> str:
    """A condition on `scim_group_member m` rows for a filter bound inside `members[...]` (a PATCH removing
    members by filter, RFC 7644 §3.5.2.2); its bind parameters are appended to `params`. Only `value` and
    `type` can be filtered on (`invalidFilter` otherwise): a member row holds nothing else."""
    return _MemberRows(SqlFilter("g", GROUP_TYPE, params)).compile(node)


def sort_expression(rtype: ResourceType, res: ResolvedAttr, alias: str) -> str:
    """An ORDER BY expression for `sortBy` (RFC 7644 §3.4.2.3): multi-valued attributes sort by their
    primary (else first) value; strings with caseExact false sort case-insensitively."""
    ctx = SqlFilter(alias, rtype)
    if res.attr.multi_valued:
        if rtype.name == "Group" and res.attr.name == "members":
            raise InvalidFilter("cannot sort by members")
        sub = res.sub.name if res.sub else "value"
        if res.attr.sub(sub) is None:
            raise InvalidFilter(f"cannot sort by {res.attr.name}")
        return (
            f"(SELECT e.v->>{_lit(sub)} FROM {ctx._array(res)} WITH ORDINALITY AS e(v, n) "
            f"ORDER BY (e.v->>'primary') = 'true' DESC, e.n LIMIT 1)"
        )
    if res.attr.type == "complex" and res.sub is None:
        raise InvalidFilter(f"cannot sort by complex {res.attr.name}; name a sub-attribute")
    col = ctx._column(res)
    expr = col[0] if col is not None else ctx._json_text(res, f"{alias}.doc")
    if ctx._column(res) is None and _kind_of(res) in {"num", "ts"}:
        return json_typed(res, ctx._json_value(res, f"{alias}.doc"), _kind_of(res))
    if res.leaf.type in {"string", "reference", "any"} and not res.leaf.case_exact:
        return f"lower({expr})"
    return expr
