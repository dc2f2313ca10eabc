"""Tenants, tokens, roles and schemas, the tenant transaction and the migration runner."""
