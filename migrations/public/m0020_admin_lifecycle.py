SQL = """
-- Invitations expire (issue #15): a one-time password works until invitation_expires_at; NULL once the
-- administrator has chosen a password. Existing one-time passwords get the default 72 hours from now.
ALTER TABLE public.admin_user
    ADD COLUMN invitation_expires_at timestamptz,
    ADD COLUMN oidc_subject text;
UPDATE public.admin_user SET invitation_expires_at = now() + interval '72 hours' WHERE must_change_password;

-- Sessions can be listed and ended one by one.
ALTER TABLE public.admin_session
    ADD COLUMN id bigserial UNIQUE,
    ADD COLUMN client_ip text,
    ADD COLUMN user_agent text,
    ADD COLUMN method text NOT NULL DEFAULT 'password' CHECK (method IN ('password', 'oidc'));
CREATE INDEX admin_session_admin ON public.admin_session (admin_id);

-- Scoped API keys. Keys made before scopes existed keep the scopes of every route that existed then
-- (admins.scopes.DEFAULT_SCOPES); the newer capabilities (administrators, the trail) need a new key.
ALTER TABLE public.admin_api_key
    ADD COLUMN scopes text[] NOT NULL
        DEFAULT '{activity:read,connector:read,connector:write,tokens:write,notifications:read,notifications:write}',
    ADD COLUMN expires_at timestamptz;

-- Sign-in throttling per client address across accounts (admins.signin).
CREATE INDEX admin_signin_address ON public.admin_signin (client_ip, at DESC);

-- The admin audit trail: who did what, when, from where, and what changed (never a secret).
CREATE TABLE public.admin_trail (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES public.tenant (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    actor_kind text NOT NULL,
    actor text NOT NULL,
    admin_id bigint,
    api_key_id bigint,
    client_ip text,
    action text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('success', 'refused')),
    summary text NOT NULL,
    changes jsonb NOT NULL DEFAULT '[]',
    notice text NOT NULL DEFAULT 'none' CHECK (notice IN ('none', 'pending', 'sent', 'partial', 'skipped')),
    notice_claimed_at timestamptz
);
CREATE INDEX admin_trail_page ON public.admin_trail (tenant_id, at DESC, id DESC);
CREATE INDEX admin_trail_notice ON public.admin_trail (notice_claimed_at) WHERE notice = 'pending';

-- Security notices mailed to the tenant's administrators: one row per (entry, recipient), so a redelivered
-- task mails nobody twice (the same rule as notify_delivery for digests).
CREATE TABLE public.admin_notice_delivery (
    trail_id bigint NOT NULL REFERENCES public.admin_trail (id) ON DELETE CASCADE,
    recipient text NOT NULL,
    status text NOT NULL CHECK (status IN ('sent', 'rejected', 'failed')),
    detail text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trail_id, recipient)
);

-- Sign-in with the tenant's identity provider (OpenID Connect). The client secret is stored encrypted
-- (Fernet, key from SCIMHUB_SECRET_KEY) and never returned.
CREATE TABLE public.tenant_oidc (
    tenant_id bigint PRIMARY KEY REFERENCES public.tenant (id) ON DELETE CASCADE,
    issuer text NOT NULL,
    client_id text NOT NULL,
    client_secret_encrypted text NOT NULL,
    password_signin boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per sign-in started at the provider: state, nonce and PKCE verifier, consumed once.
CREATE TABLE public.admin_oidc_state (
    state_digest bytea PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES public.tenant (id) ON DELETE CASCADE,
    browser_digest bytea NOT NULL,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    next_path text NOT NULL DEFAULT '',
    expires_at timestamptz NOT NULL
);
"""
