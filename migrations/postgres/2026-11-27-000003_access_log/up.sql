-- The access log: one record per request that reached a data endpoint,
-- committed in batches that form a hash chain, and the usage rolled up from
-- it in the same transaction (the bill's input, rebuildable from the log).

CREATE TABLE access_batches (
    id            BIGINT  PRIMARY KEY NOT NULL,
    committed_at  TIMESTAMP    NOT NULL,
    record_count  INTEGER NOT NULL,
    records_hash  TEXT    NOT NULL,
    prev_hash     TEXT    NOT NULL,
    batch_hash    TEXT    NOT NULL
);

-- The newest batch, so that deleting whole batches at the end is caught too
-- and so concurrent writers (replicas on PostgreSQL) serialise on one row.
CREATE TABLE access_chain_head (
    id            INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_batch_id BIGINT  NOT NULL,
    last_hash     TEXT    NOT NULL
);
INSERT INTO access_chain_head (id, last_batch_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE access_log (
    id                BIGINT  PRIMARY KEY NOT NULL,
    batch_id          BIGINT  NOT NULL REFERENCES access_batches (id),
    at                TIMESTAMP    NOT NULL,
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
CREATE INDEX access_log_batch ON access_log (batch_id);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_organisation_at ON access_log (organisation_id, at);
CREATE INDEX access_log_subject ON access_log (subject_hash, at);

CREATE TABLE usage_daily (
    day              DATE    NOT NULL,
    organisation_id  BIGINT  NOT NULL,
    client_system_id BIGINT  NOT NULL,
    search_type      TEXT    NOT NULL,
    grant_id         BIGINT  NOT NULL,
    requests         BIGINT  NOT NULL,
    rows_returned    BIGINT  NOT NULL,
    PRIMARY KEY (day, organisation_id, client_system_id, search_type, grant_id)
);
CREATE INDEX usage_daily_grant ON usage_daily (grant_id);

-- Bills of closed periods: immutable once written; corrections are
-- adjustment lines with their own reason.
CREATE TABLE bill_lines (
    id              BIGINT  PRIMARY KEY NOT NULL,
    period          TEXT    NOT NULL,
    organisation_id BIGINT  NOT NULL,
    service         TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('charge', 'adjustment')),
    rows_billed     BIGINT  NOT NULL,
    rate_paisa      BIGINT  NOT NULL,
    amount_paisa    BIGINT  NOT NULL,
    note            TEXT    NOT NULL,
    created_at      TIMESTAMP    NOT NULL
);
CREATE INDEX bill_lines_period ON bill_lines (period, organisation_id);

CREATE TABLE closed_periods (
    period      TEXT PRIMARY KEY NOT NULL,
    closed_at   TIMESTAMP NOT NULL,
    log_rows    BIGINT NOT NULL,
    billed_rows BIGINT NOT NULL
);
