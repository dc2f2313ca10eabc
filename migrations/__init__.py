"""Schema migrations: `public/` for the shared tables, `tenant/` for every tenant schema.

Each module is named `mNNNN_<what>.py` and holds `SQL`, run in one transaction. Tenant migrations run with
the tenant's schema as search path and the tenant's role as current role, so the tables they create are
owned by that role; they must never qualify a table with a schema. Keep them additive (asyncpg caches
statements per connection, see DESIGN.md).
"""
