-- The subject index keys first on the record's bucket of 4,096 ids
-- (`id >> 12`), then on the subject key. Keyed on the subject alone, every
-- record's entry landed on a random leaf of an index as large as the log,
-- so each transaction of the log's applier dirtied about one index page
-- per record: on the till's hot path that was ~1.4 pages written per
-- answer (WAL and checkpoint), a third of the throughput lost to logging
-- (docs/performance.md, stop 17). Within a bucket the entries are still in
-- random order, but a bucket is ~30 pages, so a transaction of a few
-- hundred records dirties those few pages. A subject query probes the
-- index once per bucket, newest first (`store::audit::query`): ~2,400
-- probes for ten million records.
DROP INDEX access_log_subject_key;
CREATE INDEX access_log_subject_bucket ON access_log (id >> 12, subject_key)
    WHERE subject_key IS NOT NULL;
