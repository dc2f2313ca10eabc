"""The SCIM 2.0 protocol (RFC 7643/7644), pure and synchronous: no I/O, no web framework, no tables."""
