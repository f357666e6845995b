-- The till's hot path (`GET /v1/pmt/{cnic}`) and the CNIC searches look a
-- CNIC up to find its household. Through `members_cnic` alone that is the
-- index leaf, then the member's row (a random page of the largest table,
-- read only for its household id), then the household. With the household
-- id in the index, the member's row is not read: one random page fewer per
-- request (docs/performance.md, stop 14). `members_cnic` stays: it is what
-- keeps a CNIC in one household only.
CREATE INDEX members_cnic_household ON members (cnic, household_id);
