"""The activity log's vocabulary: every operation name and outcome name, in the words administrators read.

One home for the provisioning use cases (which name what they did), the activity middleware (which names
requests that failed before a use case ran), the hub's filter list, the CLI, the chart and the templates.
The names are stored in `activity_log.operation` / `.outcome`: changing one is a data migration.
"""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    """What a SCIM request did, as the activity log and the failure mails name it."""

    TEST_CONNECTION = "Test connection"  # Entra's probe: a filter on a random GUID (contract §2.1)
    LOOKUP = "Lookup"  # a filtered list (Entra's match-before-create)
    LIST_USERS = "List users"
    LIST_GROUPS = "List groups"
    GET_USER = "Get user"
    CREATE_USER = "Create user"
    UPDATE_USER = "Update user"
    DISABLE_USER = "Disable user"
    ENABLE_USER = "Enable user"
    REPLACE_USER = "Replace user"
    DELETE_USER = "Delete user"
    GET_GROUP = "Get group"
    CREATE_GROUP = "Create group"
    ADD_MEMBERS = "Add members"
    REMOVE_MEMBERS = "Remove members"
    UPDATE_MEMBERS = "Update members"
    RENAME_GROUP = "Rename group"
    UPDATE_GROUP = "Update group"
    REPLACE_GROUP = "Replace group"
    DELETE_GROUP = "Delete group"
    DISCOVERY = "Discovery"
    AUTHENTICATION_FAILED = "Authentication failed"
    RATE_LIMITED = "Rate limited"  # over the tenant's request-rate limit (429), counted per flush
    OTHER = "Other request"  # a method no SCIM endpoint has (405)


# The hub's filter list and the CLI's `--operation` choices, in this order.
OPERATIONS: tuple[str, ...] = tuple(op.value for op in Operation)

_BY_VERB = {
    ("Get", "User"): Operation.GET_USER,
    ("Get", "Group"): Operation.GET_GROUP,
    ("Create", "User"): Operation.CREATE_USER,
    ("Create", "Group"): Operation.CREATE_GROUP,
    ("Replace", "User"): Operation.REPLACE_USER,
    ("Replace", "Group"): Operation.REPLACE_GROUP,
    ("Update", "User"): Operation.UPDATE_USER,
    ("Update", "Group"): Operation.UPDATE_GROUP,
    ("Delete", "User"): Operation.DELETE_USER,
    ("Delete", "Group"): Operation.DELETE_GROUP,
    ("List", "User"): Operation.LIST_USERS,
    ("List", "Group"): Operation.LIST_GROUPS,
}
_METHOD_VERB = {"PUT": "Replace", "PATCH": "Update", "DELETE": "Delete"}


def operation(verb: str, resource_type: str) -> Operation:
    """`operation("Create", "User")` -> Operation.CREATE_USER; KeyError for a pair no use case has."""
    return _BY_VERB[(verb, resource_type)]


def operation_for_request(method: str, resource_type: str | None, has_id: bool) -> Operation:
    """The name of a request that failed before (or without) a use case naming it: from method and path."""
    if resource_type not in ("User", "Group"):
        return Operation.DISCOVERY if method == "GET" else Operation.OTHER
    if method == "GET":
        return operation("Get", resource_type) if has_id else Operation.LOOKUP
    if method == "POST":
        return Operation.LOOKUP if has_id else operation("Create", resource_type)
    verb = _METHOD_VERB.get(method)
    return operation(verb, resource_type) if verb else Operation.OTHER


class Outcome(StrEnum):
    SUCCESS = "success"
    NOT_FOUND = "not found"
    CONFLICT = "conflict"
    FAILURE = "failure"


OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)  # the chart stacks them in this order
PROBLEMS = "problems"  # a filter value: every outcome but success
OUTCOME_FILTERS: tuple[str, ...] = (PROBLEMS, *OUTCOMES)  # what a filter on outcome accepts
OUTCOME_LABELS = {PROBLEMS: "all but success"}


def outcome_of(status: int) -> Outcome:
    if status < 400:
        return Outcome.SUCCESS
    if status == 404:
        return Outcome.NOT_FOUND
    if status == 409:
        return Outcome.CONFLICT
    return Outcome.FAILURE


def counts_toward_digest(status: int, method: str) -> bool:
    """A failed provisioning request for the failure mail: every 5xx, every 4xx but a lookup's 404."""
    if status >= 500:
        return True
    if status < 400:
        return False
    return not (status == 404 and method == "GET")
