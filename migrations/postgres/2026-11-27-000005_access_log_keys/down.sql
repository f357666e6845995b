DROP INDEX access_log_subject;
CREATE INDEX access_log_subject ON access_log (subject_hash, at);
