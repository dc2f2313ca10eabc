SQL = """
-- The email index's function (m0040) in PL/pgSQL instead of SQL, same body and same results, so the index
-- built from it stays valid. A SQL function in an index expression is parsed and planned again at every
-- statement that computes it (every user INSERT, and every UPDATE, which a changed document makes non-HOT):
-- ~80 us of backend CPU per user write, more than the rest of the INSERT (issue #13, measured on one
-- connection, 2,000 inserts, 4 alternated runs: 165-230 us with the SQL function, 80-120 without the index,
-- 95-130 with this one). PL/pgSQL keeps the plan of its query for the session. Unqualified names still
-- resolve in pg_catalog first, whatever the search path.
CREATE OR REPLACE FUNCTION scim_user_emails(doc jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(lower(e ->> 'value')), '{}'::text[])
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc -> 'emails') = 'array' THEN doc -> 'emails'
                                           ELSE '[]'::jsonb END) AS e);
END
$$;
"""
