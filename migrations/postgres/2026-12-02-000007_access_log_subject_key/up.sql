-- The subject index keys on an integer: the first 64 bits of the keyed
-- hash (its first 16 hex digits, as a signed 64-bit integer), written by
-- the log's writer beside the hash, as on SQLite (see the SQLite
-- migration of the same name). `audit verify` checks each key against its
-- hash.
ALTER TABLE access_log ADD COLUMN subject_key BIGINT;
UPDATE access_log SET subject_key = ('x' || substr(subject_hash, 1, 16))::bit(64)::bigint
WHERE subject_hash IS NOT NULL;
DROP INDEX access_log_subject;
CREATE INDEX access_log_subject_key ON access_log (subject_key) WHERE subject_key IS NOT NULL;
