"""The catalogue of client dialects: every way scimhub reads a client that departs from (or stretches) the RFCs.

One `Rule` per behaviour: what the client sends, which client, how scimhub reads it, where that is written
down ("contract §2.6" is ../shared/entra-scim-contract.md; RFC clauses otherwise), the code that does it
(`where`, as `module:function`) and the tests that pin it. The code names its rule where it applies it:
`dialect.BOOLEAN_STRING.note(rewrites, ...)` adds the rule's message to the rewrites the activity log shows
the administrator; a rule that leaves no message is named in a `# dialect.RULE` comment at that place.
`tests/unit/test_dialect.py` checks that every `where` names the rule, every listed test exists, and every
rewrite message in the code comes from here.

To find where something is handled, search this file for what the client sends (`"False"`, `aadOptscim062020`,
`value list`, `manager`), then follow `where`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Client(StrEnum):
    ENTRA = "Entra ID, default dialect"
    ENTRA_COMPLIANT = "Entra ID with aadOptscim062020"
    OKTA = "Okta"
    MS_COLLECTION = "Microsoft's SCIM reference Postman collection"
    ANY = "any client (a leniency)"


@dataclass(frozen=True)
class Rule:
    name: str
    clients: tuple[Client, ...]
    sends: str
    reading: str
    source: str
    where: tuple[str, ...]
    tests: tuple[str, ...]
    message: str | None = None  # the rewrite's text for the activity log (str.format fields); None: silent

    def note(self, rewrites: list[str], **fields: Any) -> None:
        """Record that this rule was applied, in the words the activity log shows: each message once, at most
        `MAX_REWRITES` of them and `MAX_REWRITE_LENGTH` characters each (a body of 50,000 bare strings is one
        note, not 50,000), so the list stays small whatever the request."""
        if self.message is None:
            raise TypeError(f"dialect rule {self.name} leaves no message")
        if len(rewrites) > MAX_REWRITES:
            return
        text = self.message.format(**fields)
        if len(text) > MAX_REWRITE_LENGTH:
            text = text[:MAX_REWRITE_LENGTH] + "…"
        if text in rewrites:  # at most MAX_REWRITES entries to compare: linear overall
            return
        rewrites.append(text if len(rewrites) < MAX_REWRITES else "… (more rewrites not listed)")


MAX_REWRITES = 50
MAX_REWRITE_LENGTH = 300


_CONTRACT_TESTS = "tests/integration/test_scim_contract.py"
_QUERY_TESTS = "tests/integration/test_scim_queries.py"
_BAD_INPUT_TESTS = "tests/integration/test_scim_bad_input.py"
_PROTOCOL_TESTS = "tests/unit/test_scim_protocol.py"
_DIALECT_TESTS = "tests/unit/test_dialect.py"
_CUSTOM_TESTS = "tests/integration/test_custom_attributes.py"

# ------------------------------------------------------------------------------------------------ PATCH

OP_NAME_CASE = Rule(
    "OP_NAME_CASE",
    (Client.ENTRA,),
    sends='op names capitalised: "Add", "Replace", "Remove"',
    reading="op names are matched case-insensitively",
    source="contract §2.6 [D1 General, D2]; RFC 7644 §3.5.2 names them in lower case",
    where=("scimhub.scim.quirks:normalise_patch",),
    tests=(
        f"{_PROTOCOL_TESTS}::test_legacy_dialect_rewrites_are_reported",
        f"{_CONTRACT_TESTS}::test_patch_add_single_valued_string",
    ),
    message="op {given!r} read as {op!r}",
)
BOOLEAN_STRING = Rule(
    "BOOLEAN_STRING",
    (Client.ENTRA, Client.MS_COLLECTION),
    sends='booleans as strings: {"op": "Replace", "path": "active", "value": "False"}; "active": "True" on create',
    reading='"True"/"False" in any case are read as true/false (Replace active "False" disables the user)',
    source="contract §2.6 [D2, R Core2EnterpriseUserExtensions: bool.TryParse]",
    where=("scimhub.scim.resources:_coerce_simple",),
    tests=(
        f"{_CONTRACT_TESTS}::test_patch_disable_and_enable",
        f"{_PROTOCOL_TESTS}::test_legacy_dialect_rewrites_are_reported",
    ),
    message="{given!r} read as {value} ({where})",
)
NUMBER_STRING = Rule(
    "NUMBER_STRING",
    (Client.ENTRA,),
    sends='numbers of custom attributes as strings: {"op": "Replace", "path": "urn:...:User:level", "value": "42"}',
    reading="a string holding a number is read as that number when the tenant declared the attribute integer or "
    "decimal (issue #12)",
    source="contract §2.6 [D2: Entra sends attribute values as strings]; issue #12",
    where=("scimhub.scim.resources:_coerce_simple",),
    tests=(f"{_CUSTOM_TESTS}::test_entra_string_booleans_and_numbers_follow_declared_types",),
    message="{given!r} read as a number ({where})",
)
UNDECLARED_EXTENSION_KEPT = Rule(
    "UNDECLARED_EXTENSION_KEPT",
    (Client.ENTRA, Client.OKTA, Client.ANY),
    sends="attributes under an extension URN the tenant has not declared "
    "(urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute)",
    reading="a lenient tenant (the default) keeps them as sent, returns them and filters them as strings; the hub "
    "lists them as seen, not declared; a strict tenant answers 400 naming the attribute and how to declare it",
    source="Entra's 'Edit attribute list' custom attributes; issue #12",
    where=("scimhub.scim.resources:_take",),
    tests=(f"{_CUSTOM_TESTS}::test_entra_create_with_undeclared_extension_round_trips",),
    message="kept undeclared custom attribute {name} as sent",
)
PATHLESS_KEY_AS_PATH = Rule(
    "PATHLESS_KEY_AS_PATH",
    (Client.ENTRA_COMPLIANT, Client.OKTA),
    sends='a path-less replace whose value has dotted or URN keys: {"name.givenName": "K", "urn:...:department": "D"}',
    reading="each key is an attribute path and becomes its own operation (never a literal attribute name)",
    source="contract §2.6 [D2]; RFC 7644 §3.5.2.3 (no path: the value holds attributes)",
    where=("scimhub.scim.quirks:_pathless_one",),
    tests=(
        f"{_CONTRACT_TESTS}::test_patch_pathless_replace_with_dotted_and_urn_keys",
        f"{_PROTOCOL_TESTS}::test_pathless_dotted_and_urn_keys_become_paths",
        f"{_CONTRACT_TESTS}::test_okta_pathless_deactivate",
    ),
    message="path-less {op} key {key!r} read as path",
)
REMOVE_VALUE_LIST = Rule(
    "REMOVE_VALUE_LIST",
    (Client.ENTRA,),
    sends='{"op": "Remove", "path": "members", "value": [{"value": "<id>"}]} (a remove carrying a value list)',
    reading="remove exactly the listed entries, never all of them; for members the listed ids go straight to "
    "one DELETE; a listed value that is not an id names no member",
    source="contract §2.8, §7.2 [D1 Group Operations, O azure-docs#30826]; RFC 7644 §3.5.2.2 has no value",
    where=(
        "scimhub.scim.quirks:normalise_patch",
        "scimhub.scim.patch:_apply_members",
        "scimhub.scim.patch:_remove_listed",
    ),
    tests=(
        f"{_CONTRACT_TESTS}::test_group_remove_with_value_list_removes_only_listed",
        f"{_PROTOCOL_TESTS}::test_member_remove_with_value_list_removes_only_listed",
        f"{_DIALECT_TESTS}::test_remove_with_a_value_list_on_emails_removes_only_those",
    ),
    message="remove of {attribute} with a value list read as removing only the {count} listed",
)
FILTER_ON_SINGLE_VALUED = Rule(
    "FILTER_ON_SINGLE_VALUED",
    (Client.ENTRA,),
    sends='a value filter on single-valued manager: {"op": "Remove", "path": "manager[value eq \\"<id>\\"]"}',
    reading="the filter is applied to the one value: the manager is removed only while it is still that id",
    source="contract §2.6 [O thomaspoignant/scim-patch#453]; RFC 7644 §3.5.2 filters multi-valued attributes",
    where=("scimhub.scim.quirks:normalise_patch", "scimhub.scim.patch:_remove"),
    tests=(
        f"{_CONTRACT_TESTS}::test_manager_legacy_list_form_and_removals",
        f"{_PROTOCOL_TESTS}::test_manager_string_and_filtered_removal",
    ),
    message="value filter on single-valued {attribute} applied to its one value",
)
MISSING_ENTRY_ADDED = Rule(
    "MISSING_ENTRY_ADDED",
    (Client.ENTRA,),
    sends='{"op": "Replace", "path": "emails[type eq \\"work\\"].value", "value": "..."}, the user has no work email',
    reading="the entry is created from the filter's equalities ({type: work, value: ...}), as Microsoft's "
    "reference server does; a filter without equalities stays noTarget",
    source="contract §2.6 [D1 General, R]; RFC 7644 §3.5.2.3 would answer noTarget",
    where=("scimhub.scim.patch:_set_filtered",),
    tests=(
        f"{_CONTRACT_TESTS}::test_patch_work_email_is_added_when_missing",
        f"{_PROTOCOL_TESTS}::test_filtered_replace_without_match_needs_equality_filter",
    ),
    message="{where} matched no entry; added {attribute} entry {fields}",
)
MISSING_PATCH_SCHEMAS = Rule(
    "MISSING_PATCH_SCHEMAS",
    (Client.ANY,),
    sends="a PATCH body without 'schemas'",
    reading="read as a PatchOp message; a 'schemas' list without the PatchOp URN is still refused",
    source="RFC 7644 §3.5.2 (schemas is REQUIRED)",
    where=("scimhub.scim.quirks:normalise_patch",),
    tests=(f"{_DIALECT_TESTS}::test_patch_body_without_schemas_is_read_as_patchop",),
    message="missing 'schemas' read as the PatchOp schema",
)
PATCH_KEYS_ANY_CASE = Rule(
    "PATCH_KEYS_ANY_CASE",
    (Client.ANY,),
    sends='"operations", "OP", "Path", "Value" in other cases than the RFC writes them',
    reading="the PatchOp message's member names are matched case-insensitively",
    source="contract §3 (structural keywords are case-insensitive [D1]); RFC 7643 §2.1",
    where=("scimhub.scim.quirks:_get",),
    tests=(f"{_DIALECT_TESTS}::test_patch_member_names_in_any_case",),
)
READ_ONLY_IGNORED = Rule(
    "READ_ONLY_IGNORED",
    (Client.ANY, Client.MS_COLLECTION),
    sends="read-only attributes in a body (id, meta, groups) or in a path-less PATCH value",
    reading="ignored, as RFC 7643 §2.2 says for readOnly; a PATCH path that names one is a mutability error",
    source="RFC 7643 §2.2; contract §2.4 (Entra sends meta on create)",
    where=("scimhub.scim.quirks:_pathless_one", "scimhub.scim.resources:_take"),
    tests=(
        f"{_BAD_INPUT_TESTS}::test_read_only_attributes_sent_by_the_client_are_ignored",
        f"{_DIALECT_TESTS}::test_pathless_read_only_attribute_is_ignored",
    ),
    message="ignored read-only attribute {key!r}",
)
WRITE_ONLY_DISCARDED = Rule(
    "WRITE_ONLY_DISCARDED",
    (Client.ANY,),
    sends="a password (write-only) on create, PUT or PATCH",
    reading="accepted and discarded: scimhub never stores or returns a password",
    source="RFC 7643 §4.1.1 (password), §7 (writeOnly)",
    where=("scimhub.scim.resources:_take", "scimhub.scim.patch:_apply_one"),
    tests=(f"{_BAD_INPUT_TESTS}::test_password_is_never_stored_or_returned",),
    message="{attribute} accepted and discarded (never stored)",
)

# ------------------------------------------------------------------------------------------------- values

MANAGER_PLAIN_ID = Rule(
    "MANAGER_PLAIN_ID",
    (Client.ENTRA,),
    sends='the manager as a plain id: {"op": "add", "path": "urn:...:enterprise:2.0:User:manager", "value": "<id>"}',
    reading='stored as {"value": "<id>"} (RFC 7643 §4.3 makes manager complex)',
    source="contract §2.6 [O Captain-P-Goldfish/SCIM-SDK#686]",
    where=("scimhub.scim.resources:coerce_attribute",),
    tests=(
        f"{_CONTRACT_TESTS}::test_manager_as_plain_string_is_stored_as_value_object",
        f"{_PROTOCOL_TESTS}::test_manager_string_and_filtered_removal",
    ),
    message='manager given as a plain id; stored as {{"value": id}}',
)
SINGLE_OBJECT_AS_LIST = Rule(
    "SINGLE_OBJECT_AS_LIST",
    (Client.ANY,),
    sends='one object where a multi-valued attribute needs a list: "members": {"value": "<id>"}',
    reading="a list of that one object",
    source="RFC 7643 §2.4 (multi-valued attributes are arrays)",
    where=("scimhub.scim.resources:coerce_attribute",),
    tests=(f"{_DIALECT_TESTS}::test_single_object_for_a_multi_valued_attribute_is_a_list_of_one",),
    message="single object for multi-valued {where} read as a list of one",
)
BARE_STRING_AS_VALUE = Rule(
    "BARE_STRING_AS_VALUE",
    (Client.MS_COLLECTION,),
    sends='bare strings in a multi-valued complex attribute: "members": ["<id>"], "value": "string id 1"',
    reading='each string is read as {"value": string}',
    source="RFC 7643 §2.4; the MS collection's 'Group tests with garbage' (known-deviations.txt)",
    where=("scimhub.scim.resources:coerce_attribute",),
    tests=(f"{_DIALECT_TESTS}::test_bare_strings_in_members_are_values",),
    message='bare string in {where} read as {{"value": ...}}',
)
NULL_VALUES_IGNORED = Rule(
    "NULL_VALUES_IGNORED",
    (Client.ENTRA,),
    sends='explicit nulls: "addresses": null, "manager": null (an old Entra example body)',
    reading="null is no value: the attribute is left out (RFC 7643 §2.5 unassigned)",
    source="contract §2.4 [D1 Example 2, D8]",
    where=("scimhub.scim.resources:coerce_attribute",),
    tests=(f"{_CONTRACT_TESTS}::test_create_accepts_nulls_and_the_malformed_enterprise_urn",),
)
UNKNOWN_ATTRIBUTE = Rule(
    "UNKNOWN_ATTRIBUTE",
    (Client.ANY, Client.MS_COLLECTION),
    sends='attributes no schema defines ("adreses", an unknown extension attribute)',
    reading="ignored and reported; a PATCH path naming one is invalidPath",
    source="RFC 7644 §3.3 leaves unknown attributes to the provider; known-deviations.txt (PUT 'adreses')",
    where=(
        "scimhub.scim.resources:canonical_resource",
        "scimhub.scim.quirks:_pathless_one",
    ),
    tests=(f"{_DIALECT_TESTS}::test_unknown_attributes_are_ignored_and_reported",),
    message="ignored unknown attribute {name}",
)
UNKNOWN_SUB_ATTRIBUTE = Rule(
    "UNKNOWN_SUB_ATTRIBUTE",
    (Client.MS_COLLECTION,),
    sends='unknown sub-attributes: members [{"value": "<id>", "displayName": "new User"}]',
    reading="ignored and reported",
    source="RFC 7643 §2.3.8; the MS collection's 'Patch add user4 to group1'",
    where=("scimhub.scim.resources:_coerce_complex",),
    tests=(f"{_DIALECT_TESTS}::test_unknown_attributes_are_ignored_and_reported",),
    message="ignored unknown sub-attribute {where}",
)

# ------------------------------------------------------------------------------------------------ schemas

MALFORMED_ENTERPRISE_URN = Rule(
    "MALFORMED_ENTERPRISE_URN",
    (Client.ENTRA,),
    sends='the enterprise URN without its last colon: "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"',
    reading="read as the enterprise extension URN",
    source="contract §2.4 [D1 Example 2]",
    where=("scimhub.scim.resources:_canonical_schema_urn",),
    tests=(f"{_CONTRACT_TESTS}::test_create_accepts_nulls_and_the_malformed_enterprise_urn",),
    message="schema URI {given!r} read as {schema!r}",
)
TOLERATED_SCHEMA_URI = Rule(
    "TOLERATED_SCHEMA_URI",
    (Client.ENTRA,),
    sends='"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group" in a group\'s schemas',
    reading="accepted and ignored (it carries no attribute scimhub keeps); other unknown URIs are refused",
    source="contract §2.8 [D1, D2]; §9 (scim2-server rejects it)",
    where=("scimhub.scim.resources:check_schemas",),
    tests=(f"{_CONTRACT_TESTS}::test_create_entra_group_with_adscim_schema",),
    message="ignored schema URI {given!r}",
)
UNQUALIFIED_EXTENSION_ATTRIBUTE = Rule(
    "UNQUALIFIED_EXTENSION_ATTRIBUTE",
    (Client.ENTRA,),
    sends='enterprise attributes without their URN: path "manager", filter manager eq "<id>"',
    reading="resolved in the one extension that has the name (RFC 7644 §3.10 would need the URN)",
    source="contract §2.3 [D1 Example 4], §2.6 [D1 Example 5]",
    where=("scimhub.scim.schemas:resolve",),
    tests=(
        f"{_PROTOCOL_TESTS}::test_unqualified_extension_attribute_resolves",
        f"{_CONTRACT_TESTS}::test_reference_check_with_id_and_manager",
    ),
)

# ------------------------------------------------------------------------------------------------ queries

VALUE_PATH_SUB_ATTRIBUTE_FILTER = Rule(
    "VALUE_PATH_SUB_ATTRIBUTE_FILTER",
    (Client.ENTRA,),
    sends='filter=emails[type eq "work"].value eq "user@contoso.com" (valuePath.subAttr compared)',
    reading="one element of emails must have type work and that value (same-element semantics)",
    source="contract §2.3 [D1 /Users]; RFC 7644 §3.4.2.2 has no valuePath.subAttr comparison",
    where=("scimhub.scim.filters:_Parser.attr_expr",),
    tests=(
        f"{_PROTOCOL_TESTS}::test_entra_work_email_value_path_with_sub_attribute",
        f"{_CONTRACT_TESTS}::test_match_by_user_name_external_id_and_case",
    ),
)
COMPLEX_COMPARED_BY_VALUE = Rule(
    "COMPLEX_COMPARED_BY_VALUE",
    (Client.ENTRA,),
    sends='a complex attribute compared as a whole: manager eq "<id>", members eq "<id>"',
    reading="compared by its value sub-attribute",
    source="contract §2.3 [D1 Example 4]",
    where=("scimhub.scim.filter_binding:bind",),
    tests=(
        f"{_PROTOCOL_TESTS}::test_unqualified_extension_attribute_resolves",
        f"{_CONTRACT_TESTS}::test_reference_check_with_id_and_manager",
    ),
)
PROJECTION_VALUE_FILTER = Rule(
    "PROJECTION_VALUE_FILTER",
    (Client.MS_COLLECTION,),
    sends='attributes=emails[type eq "work"] (a value filter in the attribute list)',
    reading="read as the attribute it filters (emails)",
    source="RFC 7644 §3.9 lists attribute names only; known-deviations.txt (ComplexAttribute tests)",
    where=("scimhub.scim.projection:_parse",),
    tests=(f"{_DIALECT_TESTS}::test_value_filter_in_attributes_reads_as_the_attribute",),
)

# --------------------------------------------------------------------------------------------------- HTTP

LOWER_CASE_RESOURCE_PATH = Rule(
    "LOWER_CASE_RESOURCE_PATH",
    (Client.MS_COLLECTION,),
    sends="/users, /groups (resource endpoints in lower case)",
    reading="resource path segments match case-insensitively",
    source="RFC 7644 §3.2 names /Users and /Groups",
    where=("scimhub.http.scim:_resource_type",),
    tests=(f"{_CONTRACT_TESTS}::test_lowercase_resource_path_and_unknown_query_parameters",),
)
UNKNOWN_QUERY_PARAMETERS = Rule(
    "UNKNOWN_QUERY_PARAMETERS",
    (Client.ENTRA, Client.ENTRA_COMPLIANT),
    sends="feature flags in the Tenant URL's query (?aadOptscim062020)",
    reading="unknown query parameters are ignored",
    source="contract §1 [D2]",
    where=("scimhub.http.scim:list_resources",),
    tests=(f"{_CONTRACT_TESTS}::test_lowercase_resource_path_and_unknown_query_parameters",),
)
SERVICE_CONFIGURATION_ALIAS = Rule(
    "SERVICE_CONFIGURATION_ALIAS",
    (Client.MS_COLLECTION,),
    sends="GET /serviceConfiguration",
    reading="answered as /ServiceProviderConfig",
    source="RFC 7644 §4 names /ServiceProviderConfig; known-deviations.txt (Endpoint tests)",
    where=("scimhub.http.scim:_discovery",),
    tests=(f"{_CONTRACT_TESTS}::test_service_configuration_alias_answers_the_service_provider_config",),
)
BASE_URL_ANSWERS = Rule(
    "BASE_URL_ANSWERS",
    (Client.ENTRA,),
    sends="GET {Tenant URL} (the base itself)",
    reading="200 with links to the discovery endpoints, never 404",
    source="contract §2.1, §7.1 [D5: a 404 counts toward quarantine]",
    where=("scimhub.http.scim:tenant_root",),
    tests=(f"{_CONTRACT_TESTS}::test_base_url_answers_200_not_404",),
)
PATCH_ANSWER = Rule(
    "PATCH_ANSWER",
    (Client.ENTRA, Client.OKTA),
    sends="PATCH; Okta (User-Agent), `Prefer: return=representation` or attributes/excludedAttributes",
    reading="204 No Content for Entra and the MS collection; 200 with the user for Okta and clients that ask",
    source="contract §2.6, §3 [D1, R ControllerTemplate.Patch]; RFC 7644 §3.5.2 allows both",
    where=("scimhub.http.scim:_context",),
    tests=(
        f"{_CONTRACT_TESTS}::test_okta_pathless_deactivate",
        f"{_QUERY_TESTS}::test_attributes_and_excluded_attributes",
    ),
)

RULES: tuple[Rule, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Rule))
