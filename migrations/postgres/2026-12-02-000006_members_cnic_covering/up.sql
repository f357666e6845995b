-- The till's hot path (`GET /v1/pmt/{cnic}`) and the CNIC searches look a
-- CNIC up to find its household. With the household id carried in the
-- unique index that already keeps a CNIC in one household, an index-only
-- scan answers that without reading the member's row (docs/performance.md,
-- stop 14). One index, not a second one beside it: PostgreSQL can carry a
-- column in a unique index without making it part of the key (SQLite
-- cannot, so its migration adds an index). The migration runs in one
-- transaction: no moment without the uniqueness.
DROP INDEX members_cnic;
CREATE UNIQUE INDEX members_cnic ON members (cnic) INCLUDE (household_id);
