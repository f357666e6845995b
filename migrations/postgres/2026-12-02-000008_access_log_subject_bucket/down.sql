DROP INDEX access_log_subject_bucket;
CREATE INDEX access_log_subject_key ON access_log (subject_key) WHERE subject_key IS NOT NULL;
