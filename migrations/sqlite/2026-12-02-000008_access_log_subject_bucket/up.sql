-- The subject index keys first on the record's bucket of 4,096 ids
-- (`id >> 12`), then on the subject key. Keyed on the subject alone, every
-- record's entry landed on a random leaf of an index as large as the log,
-- so each transaction of the log's applier dirtied about one index page
-- per record, written to the WAL and again by the checkpoint: on the
-- till's hot path, 5.7 KB written per answer on an empty log and 64 KB
-- on a log of 3.5 million records, where throughput fell to 10,800 req/s
-- against 17,200 with this index (docs/performance.md, stop 17). Within a bucket the entries are still in
-- random order, but a bucket is ~30 pages, so a transaction of a few
-- hundred records dirties those few pages. A subject query probes the
-- index once per bucket, newest first (`store::audit::query`): ~2,400
-- probes for ten million records.
DROP INDEX access_log_subject_key;
CREATE INDEX access_log_subject_bucket ON access_log (id >> 12, subject_key)
    WHERE subject_key IS NOT NULL;
