SQL = """
-- A filter on a user's email (`emails eq "x"`, `emails.value eq "x"`, what Okta and scripts send) reads every
-- document without an index (~seconds at 1,000,000 users). The lower-cased values of `emails`, as an
-- immutable function of the document, GIN-indexed; store/filter_sql.py adds `scim_user_emails(u.doc) @>
-- ARRAY[lower($n)]` next to the exact EXISTS predicate, so the index finds the rows and the EXISTS keeps
-- the meaning. Unqualified names in the body resolve in pg_catalog first, whatever the search path.
CREATE FUNCTION scim_user_emails(doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(array_agg(lower(e ->> 'value')), '{}'::text[])
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc -> 'emails') = 'array' THEN doc -> 'emails'
                                   ELSE '[]'::jsonb END) AS e
$$;
CREATE INDEX scim_user_emails ON scim_user USING gin (scim_user_emails(doc));
"""
