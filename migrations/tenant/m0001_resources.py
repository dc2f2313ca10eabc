SQL = """
CREATE TABLE scim_user (
    id uuid PRIMARY KEY,
    user_name text NOT NULL,
    external_id text,
    display_name text,
    active boolean,
    version bigint NOT NULL DEFAULT 1,
    created timestamptz NOT NULL,
    last_modified timestamptz NOT NULL,
    doc jsonb NOT NULL
);
-- userName is unique case-insensitively (RFC 7643 §4.1: caseExact false, uniqueness server).
CREATE UNIQUE INDEX scim_user_user_name_key ON scim_user (lower(user_name));
CREATE INDEX scim_user_external_id ON scim_user (external_id);
CREATE INDEX scim_user_created ON scim_user (created, id);

CREATE TABLE scim_group (
    id uuid PRIMARY KEY,
    display_name text NOT NULL,
    external_id text,
    version bigint NOT NULL DEFAULT 1,
    created timestamptz NOT NULL,
    last_modified timestamptz NOT NULL,
    doc jsonb NOT NULL
);
-- Entra matches groups by displayName, so it is unique per tenant (contract §2.8).
CREATE UNIQUE INDEX scim_group_display_name_key ON scim_group (lower(display_name));
CREATE INDEX scim_group_external_id ON scim_group (external_id);
CREATE INDEX scim_group_created ON scim_group (created, id);

-- One row per membership: adding or removing a member costs the same in any group size.
CREATE TABLE scim_group_member (
    group_id uuid NOT NULL REFERENCES scim_group (id) ON DELETE CASCADE,
    member_id uuid NOT NULL,
    member_type text NOT NULL DEFAULT 'User',
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_member_member ON scim_group_member (member_id);
"""
