-- Back to BIGINT PRIMARY KEY ids and the full-hash subject index.

CREATE TABLE access_batches_new (
    id            BIGINT  PRIMARY KEY NOT NULL,
    committed_at  TEXT    NOT NULL,
    record_count  INTEGER NOT NULL,
    records_hash  TEXT    NOT NULL,
    prev_hash     TEXT    NOT NULL,
    batch_hash    TEXT    NOT NULL
);
INSERT INTO access_batches_new (id, committed_at, record_count, records_hash, prev_hash, batch_hash)
SELECT id, committed_at, record_count, records_hash, prev_hash, batch_hash FROM access_batches;

CREATE TABLE access_log_new (
    id                BIGINT  PRIMARY KEY NOT NULL,
    batch_id          BIGINT  NOT NULL REFERENCES access_batches_new (id),
    at                TEXT    NOT NULL,
    request_id        TEXT    NOT NULL,
    client_ip         TEXT    NOT NULL,
    organisation_id   BIGINT,
    organisation_name TEXT,
    org_type          TEXT,
    client_system_id  BIGINT,
    client_name       TEXT,
    user_id           BIGINT,
    user_name         TEXT,
    search_type       TEXT    NOT NULL,
    endpoint          TEXT    NOT NULL,
    parameters        TEXT    NOT NULL,
    subject_hash      TEXT,
    rows_returned     BIGINT  NOT NULL,
    status            INTEGER NOT NULL,
    grant_id          BIGINT,
    purpose           TEXT,
    withheld          TEXT    NOT NULL
);
INSERT INTO access_log_new (id, batch_id, at, request_id, client_ip, organisation_id,
    organisation_name, org_type, client_system_id, client_name, user_id, user_name,
    search_type, endpoint, parameters, subject_hash, rows_returned, status, grant_id,
    purpose, withheld)
SELECT id, batch_id, at, request_id, client_ip, organisation_id,
    organisation_name, org_type, client_system_id, client_name, user_id, user_name,
    search_type, endpoint, parameters, subject_hash, rows_returned, status, grant_id,
    purpose, withheld
FROM access_log;

DROP TABLE access_log;
DROP TABLE access_batches;
-- Renaming also rewrites access_log_new's reference to access_batches_new.
ALTER TABLE access_batches_new RENAME TO access_batches;
ALTER TABLE access_log_new RENAME TO access_log;

CREATE INDEX access_log_batch ON access_log (batch_id);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_organisation_at ON access_log (organisation_id, at);
CREATE INDEX access_log_subject ON access_log (subject_hash, at);
