SQL = """
-- Custom attributes (issue #12): the tenant's declared extension attributes, its mode, and the undeclared
-- ones a lenient tenant has kept (what the hub lists as "seen, not declared"). `version` grows with every
-- change, so each web process rebuilds its cached registry (provisioning/extensions.py) within its TTL.
CREATE TABLE scim_attribute (
    resource_type text NOT NULL CHECK (resource_type IN ('User', 'Group')),
    urn text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    multi_valued boolean NOT NULL DEFAULT false,
    case_exact boolean NOT NULL DEFAULT false,
    is_unique boolean NOT NULL DEFAULT false,
    required boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT '',
    -- removed: no longer declared; the values stay in the documents until the administrator deletes them
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
    declared_at timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz
);
CREATE UNIQUE INDEX scim_attribute_key ON scim_attribute (resource_type, lower(urn), lower(name));
CREATE TABLE scim_attribute_seen (
    resource_type text NOT NULL,
    urn text NOT NULL,
    name text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX scim_attribute_seen_key ON scim_attribute_seen (resource_type, lower(urn), lower(name));
CREATE TABLE scim_schema_setting (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    mode text NOT NULL DEFAULT 'lenient' CHECK (mode IN ('lenient', 'strict')),
    version bigint NOT NULL DEFAULT 0
);
INSERT INTO scim_schema_setting DEFAULT VALUES;
"""
