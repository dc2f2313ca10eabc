# Which tenants' webhooks are due (#16): the beat's webhook sweep reads this one indexed table instead of every
# tenant schema (a read of each schema costs ~5 ms cold; at 2,000 tenants with endpoints a sweep took 9.5 s, past
# its 5 s period). A row says "this tenant's delivery task should run at `due_at`". It is raised to now after
# new events are positioned for a tenant with endpoints (and by the full sweep's check of every tenant, the
# safety net), and set by each delivery run to the tenant's next due moment (a retry, a lease running out) or
# removed when nothing is left, but only if `version` is still the one the run read at its start: a raise that
# came in meanwhile is never undone. Written by the app login (workers), outside any tenant scope.
SQL = """
CREATE TABLE public.webhook_due (
    tenant_id bigint PRIMARY KEY REFERENCES public.tenant (id) ON DELETE CASCADE,
    due_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 1
);
CREATE INDEX webhook_due_at ON public.webhook_due (due_at);
"""
