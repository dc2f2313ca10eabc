"""Helpers for the tests, one module per concept: settings and the test database, tenants, real processes,
an SMTP server, request-body factories, a SCIM client, the CLI runner, and waiting on a condition.
`tests/conftest.py` holds only fixtures, built from these."""
