-- The subject index keys first on the record's bucket of 4,096 ids, then
-- on the subject key: see the SQLite migration of the same name.
DROP INDEX access_log_subject_key;
CREATE INDEX access_log_subject_bucket ON access_log ((id >> 12), subject_key)
    WHERE subject_key IS NOT NULL;
