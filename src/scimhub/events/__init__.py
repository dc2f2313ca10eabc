"""Change events for the host application (issue #14): what changed, in a per-tenant ordered feed, pushed
to webhooks. See docs/ARCHITECTURE.md "Change events"."""
