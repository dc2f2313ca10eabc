SQL = """
-- A tenant's own request-rate limit (requests per SCIMHUB_RATE_LIMIT_WINDOW_SECONDS); NULL takes
-- SCIMHUB_RATE_LIMIT. Set with `scimhub tenant set SLUG --rate-limit N` (tenancy.rules.check_rate_limit).
ALTER TABLE public.tenant ADD COLUMN rate_limit integer CHECK (rate_limit BETWEEN 1 AND 1000000);
"""
