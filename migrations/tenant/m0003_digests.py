SQL = """
-- One row per failure digest: what it counted and over which time range. Mails are keyed by
-- (digest_id, recipient) in notify_delivery, so a redelivered send task never mails twice.
CREATE TABLE notify_digest (
    id uuid PRIMARY KEY,
    kind text NOT NULL DEFAULT 'failures' CHECK (kind IN ('failures', 'recovered', 'test')),
    created_at timestamptz NOT NULL DEFAULT now(),
    window_start timestamptz,
    window_end timestamptz NOT NULL DEFAULT now(),
    failures integer NOT NULL DEFAULT 0,
    auth_failures integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'partial', 'skipped'))
);
CREATE INDEX notify_digest_pending ON notify_digest (created_at) WHERE status = 'pending';
CREATE INDEX activity_log_notify ON activity_log (received_at) WHERE notify;
"""
