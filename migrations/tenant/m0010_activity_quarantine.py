SQL = """
-- Activity events PostgreSQL refused as they were (NUL, an over-long indexed value, a value its column cannot
-- cast): kept here byte for byte with the error's class, beside the sanitised entry written to activity_log
-- (logged = false when even that was refused). Per tenant, like the log: the tenant's role owns it, its
-- retention purges it, and it leaves with the tenant's schema.
CREATE TABLE activity_quarantine (
    id bigserial PRIMARY KEY,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    stage text NOT NULL CHECK (stage IN ('flush', 'drain')),
    error_class text NOT NULL,
    event_id uuid,
    logged boolean NOT NULL,
    event bytea NOT NULL
);
CREATE INDEX activity_quarantine_at ON activity_quarantine (quarantined_at);
"""
