"""The provisioning activity log: events, the outbox, the drain into the log, and its queries."""
