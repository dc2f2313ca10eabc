SQL = """
CREATE TABLE public.admin_user (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES public.tenant (id) ON DELETE CASCADE,
    email text NOT NULL,
    password_hash text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX admin_user_email ON public.admin_user (tenant_id, lower(email));

-- Server-side sessions: the cookie holds a random token, the table only its SHA-256 digest.
CREATE TABLE public.admin_session (
    digest bytea PRIMARY KEY,
    admin_id bigint NOT NULL REFERENCES public.admin_user (id) ON DELETE CASCADE,
    tenant_id bigint NOT NULL REFERENCES public.tenant (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX admin_session_expiry ON public.admin_session (expires_at);

-- Sign-in attempts, for throttling and for the record.
CREATE TABLE public.admin_signin (
    id bigserial PRIMARY KEY,
    tenant_id bigint REFERENCES public.tenant (id) ON DELETE CASCADE,
    email text NOT NULL,
    client_ip text,
    success boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_signin_recent ON public.admin_signin (tenant_id, lower(email), at DESC);

-- Per-tenant keys for the admin JSON API (stored as digests, shown once).
CREATE TABLE public.admin_api_key (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES public.tenant (id) ON DELETE CASCADE,
    digest bytea NOT NULL UNIQUE,
    hint text NOT NULL,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
"""
