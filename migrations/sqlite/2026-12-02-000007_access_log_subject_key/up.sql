-- The subject index keys on an integer: the first 64 bits of the keyed
-- hash (its first 16 hex digits, as a signed 64-bit integer), written by
-- the log's writer beside the hash, instead of the expression
-- `substr(subject_hash, 1, 16)`. Every access record with a subject makes
-- one random insert into this index; as an 8-byte integer rather than a
-- computed 16-character text its entries are half the size and compare as
-- integers, and nothing is computed per insert (docs/performance.md,
-- stop 15). Partial: records without a subject (list searches, audit
-- queries) add no entry. `audit verify` checks each key against its hash.
ALTER TABLE access_log ADD COLUMN subject_key INTEGER;
UPDATE access_log SET subject_key =
    ((instr('0123456789abcdef', substr(subject_hash, 1, 1)) - 1) << 60) |
    ((instr('0123456789abcdef', substr(subject_hash, 2, 1)) - 1) << 56) |
    ((instr('0123456789abcdef', substr(subject_hash, 3, 1)) - 1) << 52) |
    ((instr('0123456789abcdef', substr(subject_hash, 4, 1)) - 1) << 48) |
    ((instr('0123456789abcdef', substr(subject_hash, 5, 1)) - 1) << 44) |
    ((instr('0123456789abcdef', substr(subject_hash, 6, 1)) - 1) << 40) |
    ((instr('0123456789abcdef', substr(subject_hash, 7, 1)) - 1) << 36) |
    ((instr('0123456789abcdef', substr(subject_hash, 8, 1)) - 1) << 32) |
    ((instr('0123456789abcdef', substr(subject_hash, 9, 1)) - 1) << 28) |
    ((instr('0123456789abcdef', substr(subject_hash, 10, 1)) - 1) << 24) |
    ((instr('0123456789abcdef', substr(subject_hash, 11, 1)) - 1) << 20) |
    ((instr('0123456789abcdef', substr(subject_hash, 12, 1)) - 1) << 16) |
    ((instr('0123456789abcdef', substr(subject_hash, 13, 1)) - 1) << 12) |
    ((instr('0123456789abcdef', substr(subject_hash, 14, 1)) - 1) << 8) |
    ((instr('0123456789abcdef', substr(subject_hash, 15, 1)) - 1) << 4) |
    ((instr('0123456789abcdef', substr(subject_hash, 16, 1)) - 1) << 0)
WHERE subject_hash IS NOT NULL;
DROP INDEX access_log_subject;
CREATE INDEX access_log_subject_key ON access_log (subject_key) WHERE subject_key IS NOT NULL;
