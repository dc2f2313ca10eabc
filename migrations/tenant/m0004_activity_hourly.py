SQL = """
-- Requests per hour and outcome, kept up to date by the drain: the hub's chart reads this, not the log,
-- so it stays fast however many entries the log holds.
CREATE TABLE activity_hourly (
    hour timestamptz NOT NULL,
    outcome text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (hour, outcome)
);
INSERT INTO activity_hourly (hour, outcome, n)
SELECT date_trunc('hour', received_at), outcome, sum(repeat) FROM activity_log GROUP BY 1, 2;
CREATE INDEX activity_log_operation ON activity_log (operation, received_at DESC, event_id DESC);
"""
