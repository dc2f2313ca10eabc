SQL = """
-- Events waiting to be moved into the activity log (written in the same transaction as the change).
CREATE TABLE audit_outbox (
    seq bigserial PRIMARY KEY,
    event jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE activity_log (
    event_id uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT now(),
    duration_ms real,
    request_id text,
    client_ip text,
    user_agent text,
    method text NOT NULL,
    path text NOT NULL,
    operation text NOT NULL,
    resource_type text,
    resource_id text,
    target text,
    status smallint NOT NULL,
    outcome text NOT NULL,
    error_type text,
    error_detail text,
    changed text[] NOT NULL DEFAULT '{}',
    rewrites text[] NOT NULL DEFAULT '{}',
    request_body text,
    response_body text,
    repeat integer NOT NULL DEFAULT 1,
    notify boolean NOT NULL DEFAULT false  -- counts toward the failure digest
);
-- Newest first, keyset paging on (received_at, event_id); the outcome index serves "failures only".
CREATE INDEX activity_log_received ON activity_log (received_at DESC, event_id DESC);
CREATE INDEX activity_log_outcome ON activity_log (outcome, received_at DESC, event_id DESC);
CREATE INDEX activity_log_target ON activity_log (lower(target) text_pattern_ops);
CREATE INDEX activity_log_resource ON activity_log (resource_id);

-- Failure digest bookkeeping (one row) and delivered mails (keyed by digest and recipient).
CREATE TABLE notify_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pending_failures integer NOT NULL DEFAULT 0,
    pending_auth_failures integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz,
    last_failure_at timestamptz,
    last_sent_at timestamptz,
    recovered_due boolean NOT NULL DEFAULT false
);
INSERT INTO notify_state DEFAULT VALUES;
CREATE TABLE notify_delivery (
    digest_id uuid NOT NULL,
    recipient text NOT NULL,
    status text NOT NULL,
    detail text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (digest_id, recipient)
);
"""
