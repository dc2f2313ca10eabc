SQL = """
-- A deleted user or group never remains a member of a group, whatever the interleaving (#11 item 7). A member
-- row points at a User or a Group (member_type), so no single foreign key can say it; these triggers do what
-- one would. Adding members locks the rows they name (FOR KEY SHARE, as a foreign key check does): a
-- concurrent DELETE either waits for the adding transaction, whose rows it then removes (the AFTER DELETE
-- trigger reads with a fresh snapshot, which the delete statement's own CTE cannot), or has removed the row
-- already, and the add fails with foreign_key_violation (400 invalidValue). Statement-level with transition
-- tables: one check per statement, whatever the number of members it adds.
-- The functions keep this schema as their search path (SET search_path FROM CURRENT).

CREATE FUNCTION scim_member_check() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    want_users bigint;
    want_groups bigint;
    other bigint;
    got bigint;
BEGIN
    SELECT count(DISTINCT member_id) FILTER (WHERE member_type = 'User'),
           count(DISTINCT member_id) FILTER (WHERE member_type = 'Group'),
           count(*) FILTER (WHERE member_type NOT IN ('User', 'Group'))
      INTO want_users, want_groups, other FROM added;
    IF other > 0 THEN
        RAISE EXCEPTION 'a member is neither a User nor a Group' USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF want_users > 0 THEN
        SELECT count(*) INTO got FROM (
            SELECT 1 FROM scim_user u WHERE u.id IN (SELECT member_id FROM added WHERE member_type = 'User')
            FOR KEY SHARE OF u) locked;
        IF got < want_users THEN
            RAISE EXCEPTION 'a member is not a User of this tenant' USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    IF want_groups > 0 THEN
        SELECT count(*) INTO got FROM (
            SELECT 1 FROM scim_group g WHERE g.id IN (SELECT member_id FROM added WHERE member_type = 'Group')
            FOR KEY SHARE OF g) locked;
        IF got < want_groups THEN
            RAISE EXCEPTION 'a member is not a Group of this tenant' USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER scim_group_member_exists AFTER INSERT ON scim_group_member
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scim_member_check();

-- RFC 7644 §3.6: a deleted resource leaves every group it was in, and those groups change version.
CREATE FUNCTION scim_member_gone() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    WITH left_groups AS (
        DELETE FROM scim_group_member m USING gone WHERE m.member_id = gone.id RETURNING m.group_id
    )
    UPDATE scim_group SET version = version + 1, last_modified = now()
    WHERE id IN (SELECT group_id FROM left_groups);
    RETURN NULL;
END
$$;

CREATE TRIGGER scim_user_leaves_groups AFTER DELETE ON scim_user
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION scim_member_gone();
CREATE TRIGGER scim_group_leaves_groups AFTER DELETE ON scim_group
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION scim_member_gone();
"""
