-- The till's hot path (`GET /v1/pmt/{cnic}`) and the CNIC searches look a
-- CNIC up to find its household. With the household id carried in the
-- index, an index-only scan answers that without reading the member's row
-- (docs/performance.md, stop 14). `members_cnic` stays: it is what keeps a
-- CNIC in one household only.
CREATE INDEX members_cnic_household ON members (cnic) INCLUDE (household_id);
