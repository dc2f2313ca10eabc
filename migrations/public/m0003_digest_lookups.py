# The web and worker login may not read any digest column (tokens, hub sessions, admin API keys): it finds the
# one row whose digest it already holds through these functions, which run as their owner (SECURITY DEFINER)
# with a fixed search path and return only that row. Granted to the installation's app role by
# `tenancy.roles.ensure_app_role`; nobody else may execute them.
#
# Each returns the table's row type (`SELECT *` is expanded at call time, so columns added later come along);
# the digest in it is the caller's own.
SQL = """
CREATE FUNCTION public.scimhub_use_tenant_token(p_digest bytea) RETURNS SETOF public.tenant_token
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
    -- Records the use at most once a minute, and only of a usable token.
    WITH touched AS (
        UPDATE public.tenant_token SET last_used_at = now()
        WHERE digest = p_digest AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
          AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        RETURNING *
    )
    SELECT * FROM touched
    UNION ALL
    SELECT * FROM public.tenant_token WHERE digest = p_digest AND NOT EXISTS (SELECT 1 FROM touched)
$$;

CREATE FUNCTION public.scimhub_find_admin_session(p_digest bytea) RETURNS SETOF public.admin_session
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT * FROM public.admin_session WHERE digest = p_digest AND expires_at > now()
$$;

CREATE FUNCTION public.scimhub_end_admin_session(p_digest bytea) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
    DELETE FROM public.admin_session WHERE digest = p_digest
$$;

CREATE FUNCTION public.scimhub_use_admin_api_key(p_digest bytea) RETURNS SETOF public.admin_api_key
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
    UPDATE public.admin_api_key SET last_used_at = now() WHERE digest = p_digest AND revoked_at IS NULL
    RETURNING *
$$;

REVOKE ALL ON FUNCTION public.scimhub_use_tenant_token(bytea), public.scimhub_find_admin_session(bytea),
    public.scimhub_end_admin_session(bytea), public.scimhub_use_admin_api_key(bytea) FROM PUBLIC;
"""
