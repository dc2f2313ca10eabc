SQL = """
-- Change events for the host application (issue #14, `events/`).
--
-- A write's statement adds its changes to event_pending (same statement as the change and its activity event:
-- committed exactly when the change is). The sequencer (`events.sequencer`), holding this tenant's advisory
-- lock, moves committed pending rows into event_log and gives each event the next position, in one
-- transaction: positions are handed out in the order readers can see them, so a reader that has seen
-- position p has seen every position below it (and never a gap filled later).
CREATE TABLE event_pending (
    seq bigserial PRIMARY KEY,
    change jsonb NOT NULL
);

CREATE TABLE event_log (
    position bigint PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    resource_type text NOT NULL,
    resource_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    positioned_at timestamptz NOT NULL DEFAULT now(),
    request_id text,
    data jsonb NOT NULL
);
CREATE INDEX event_log_positioned_at ON event_log (positioned_at);

-- One row: the last position handed out, and the highest position the retention purge has removed (a cursor
-- below it has lost events: refused as expired).
CREATE TABLE event_feed (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_position bigint NOT NULL DEFAULT 0,
    purged_through bigint NOT NULL DEFAULT 0
);
INSERT INTO event_feed DEFAULT VALUES;

-- Webhook endpoints and their delivery attempts. `cursor`: the position delivered (or given up on) through;
-- deliveries go one event at a time in position order.
CREATE TABLE webhook_endpoint (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    event_types text[] NOT NULL DEFAULT '{}',
    secret_encrypted text NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    cursor bigint NOT NULL,
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    failing_since timestamptz,
    disabled_at timestamptz,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_delivery (
    id bigserial PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoint (id) ON DELETE CASCADE,
    position bigint NOT NULL,
    event_id uuid NOT NULL,
    attempt int NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL CHECK (status IN ('delivered', 'retrying', 'failed', 'redelivered')),
    response_status int,
    latency_ms real,
    error text,
    next_attempt_at timestamptz
);
CREATE INDEX webhook_delivery_endpoint ON webhook_delivery (endpoint_id, id DESC);
"""
