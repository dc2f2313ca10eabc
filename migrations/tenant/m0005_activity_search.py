SQL = """
-- The activity search box matches a userName/displayName prefix, a resource id or a request id; with an index
-- behind each branch PostgreSQL combines them (BitmapOr) instead of scanning the log (measured at 10 million
-- entries with ops/bench_activity.py: 1.5 s before, milliseconds after).
CREATE INDEX activity_log_request ON activity_log (request_id);
"""
