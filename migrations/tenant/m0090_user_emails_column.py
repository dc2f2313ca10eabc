SQL = """
-- A user's PATCH or PUT changes its document, and the email index (m0040) was an expression of the document,
-- so PostgreSQL could never update a user in place (HOT): every user write inserted a new entry into all five
-- of the table's indexes, the GIN one included. Entra's ~40-minute cycles are mostly such updates.
-- Measured under the Entra mix (issue #13): 0 HOT updates of 12,312, ~10 WAL records and 3.8 kB of WAL per
-- user UPDATE; in a loop on one connection 43-81 us per update, 22-25 us without that index.
-- Now the same values (the function of m0080, unchanged) are a stored generated column, indexed as a column:
-- PostgreSQL compares the old and new values of each indexed column, so a write that leaves the emails,
-- userName, externalId and id as they were is a HOT update (538 of 600 in the loop above, 24 us each), and
-- the free space kept on each page (fillfactor 80) leaves room for that new row version where the old one is.
-- The ADD COLUMN rewrites the table once, under this tenant's migration lock (its provisioning waits).
ALTER TABLE scim_user SET (fillfactor = 80);
ALTER TABLE scim_user ADD COLUMN emails text[] GENERATED ALWAYS AS (scim_user_emails(doc)) STORED;
DROP INDEX scim_user_emails;
CREATE INDEX scim_user_emails ON scim_user USING gin (emails);
"""
