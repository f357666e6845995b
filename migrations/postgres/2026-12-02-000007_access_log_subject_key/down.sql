DROP INDEX access_log_subject_key;
ALTER TABLE access_log DROP COLUMN subject_key;
CREATE INDEX access_log_subject ON access_log (substr(subject_hash, 1, 16));
