# The admin lifecycle (m0020) under least privilege (m0003): the app login still reads no digest column.
#
# - An admin API key now expires (`admin_api_key.expires_at`): its lookup finds, and records the use of, only
#   an unrevoked, unexpired key. Same signature and row type as m0003's, so the grant stands.
# - A sign-in started at the identity provider is consumed here, exactly once: the row whose state digest the
#   caller holds (for this tenant) is deleted and what the callback needs comes back, with whether the browser
#   that returns is the one that started it (its cookie's digest is compared here, so neither digest is ever
#   readable by the app login; both are SHA-256 digests of random values, so the comparison's timing tells
#   nothing). Granted to the installation's app role by `tenancy.roles.ensure_app_role`; nobody else may
#   execute it.
SQL = """
CREATE OR REPLACE FUNCTION public.scimhub_use_admin_api_key(p_digest bytea) RETURNS SETOF public.admin_api_key
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
    UPDATE public.admin_api_key SET last_used_at = now()
    WHERE digest = p_digest AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
    RETURNING *
$$;

CREATE FUNCTION public.scimhub_take_oidc_state(p_state_digest bytea, p_tenant_id bigint, p_browser_digest bytea)
RETURNS TABLE (same_browser boolean, nonce text, code_verifier text, next_path text, expires_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
    DELETE FROM public.admin_oidc_state s
    WHERE s.state_digest = p_state_digest AND s.tenant_id = p_tenant_id
    RETURNING s.browser_digest = p_browser_digest, s.nonce, s.code_verifier, s.next_path, s.expires_at
$$;

REVOKE ALL ON FUNCTION public.scimhub_use_admin_api_key(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.scimhub_take_oidc_state(bytea, bigint, bytea) FROM PUBLIC;
"""
