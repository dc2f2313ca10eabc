# Keys of the host application (issue #14): the product behind scimhub reads every tenant's users, groups,
# memberships and change feed with one read-only key the operator creates (`scimhub host-key create`). Only
# the SHA-256 digest is stored; the app login cannot read it and finds a key by its digest through
# `scimhub_use_host_key` (SECURITY DEFINER, as m0003's lookups; granted by `tenancy.roles.ensure_app_role`).
SQL = """
CREATE TABLE public.host_api_key (
    id bigserial PRIMARY KEY,
    digest bytea NOT NULL UNIQUE,
    hint text NOT NULL,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

CREATE FUNCTION public.scimhub_use_host_key(p_digest bytea) RETURNS SETOF public.host_api_key
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
    -- Records the use at most once a minute, and only of an unrevoked key.
    WITH touched AS (
        UPDATE public.host_api_key SET last_used_at = now()
        WHERE digest = p_digest AND revoked_at IS NULL
          AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        RETURNING *
    )
    SELECT * FROM touched
    UNION ALL
    SELECT * FROM public.host_api_key WHERE digest = p_digest AND revoked_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM touched)
$$;
REVOKE ALL ON FUNCTION public.scimhub_use_host_key(bytea) FROM PUBLIC;
"""
