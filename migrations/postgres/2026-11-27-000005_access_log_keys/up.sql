-- The subject index keys on the first 16 hex digits (64 bits) of the keyed
-- hash, not on all 64 digits and the time: a smaller index whose random
-- inserts cost the log writer less (docs/access-log.md). A subject query
-- narrows on the prefix and then compares the whole hash.
DROP INDEX access_log_subject;
CREATE INDEX access_log_subject ON access_log (substr(subject_hash, 1, 16));
