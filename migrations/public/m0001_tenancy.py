SQL = """
CREATE TABLE public.scimhub_installation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    install_id text NOT NULL DEFAULT substr(md5(gen_random_uuid()::text), 1, 10),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.scimhub_installation DEFAULT VALUES;

CREATE TABLE public.tenant (
    id bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    notify_emails text[] NOT NULL DEFAULT '{}',
    notify_enabled boolean NOT NULL DEFAULT true,
    digest_window_minutes integer NOT NULL DEFAULT 60 CHECK (digest_window_minutes BETWEEN 1 AND 10080),
    retention_days integer NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 3650),
    keep_write_bodies boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.tenant_token (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES public.tenant (id) ON DELETE CASCADE,
    digest bytea NOT NULL UNIQUE,
    hint text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX tenant_token_tenant ON public.tenant_token (tenant_id);
"""
