"""The SCIM 2.0 protocol (RFC 7643/7644), pure and synchronous: no I/O, no web framework, no tables.

Where each rule lives:
- `schemas`      the attribute definitions (RFC 7643 §4), which everything else reads
- `resources`    validating and canonicalising a body, rendering a resource (RFC 7643 §2-§3, RFC 7644 §3.3)
- `filters`      the filter and attribute-path grammar, one parser (RFC 7644 §3.4.2.2, §3.5.2), binding
- `matching`     filters evaluated in memory (PATCH value paths; the SQL compiler's test oracle)
- `quirks`       PATCH bodies of every dialect -> RFC operations; `patch` applies them (RFC 7644 §3.5.2)
- `dialect`      the catalogue of client dialects (Entra, Okta, the MS collection): what, who, where, tests
- `projection`   attributes / excludedAttributes (RFC 7644 §3.4.2.5, §3.9)
- `listing`      list query parameters and the ListResponse (RFC 7644 §3.4.2, §3.4.3)
- `etag`         entity tags, If-Match / If-None-Match (RFC 7644 §3.14, RFC 7232)
- `discovery`    /ServiceProviderConfig, /Schemas, /ResourceTypes (RFC 7643 §5-§7, RFC 7644 §4)
- `errors`       the SCIM error types and body (RFC 7644 §3.12)
"""
