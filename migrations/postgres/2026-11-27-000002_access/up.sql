-- Who may call the gateway: organisations, their client systems (identified
-- by certificate), their users, and the data-sharing grants approved for them.
-- And what USC tills send back: point-of-sale transactions.

CREATE TABLE organisations (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    org_type   TEXT    NOT NULL,
    standing   TEXT    NOT NULL DEFAULT 'active' CHECK (standing IN ('active', 'suspended')),
    created_at TIMESTAMP    NOT NULL
);

CREATE TABLE client_systems (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('machine', 'portal')),
    service_role    TEXT    NOT NULL DEFAULT 'standard',
    cert_sha256     TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    rate_per_second INTEGER NOT NULL,
    burst           INTEGER NOT NULL,
    created_at      TIMESTAMP    NOT NULL
);

CREATE TABLE users (
    id              BIGSERIAL PRIMARY KEY,
    username        TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    role            TEXT    NOT NULL CHECK (role IN ('power', 'standard', 'basic')),
    duties          TEXT    NOT NULL DEFAULT '',
    full_name       TEXT    NOT NULL,
    designation     TEXT    NOT NULL,
    district_code   INTEGER,
    tehsil_code     INTEGER,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TIMESTAMP,
    created_at      TIMESTAMP    NOT NULL
);

CREATE TABLE grants (
    id              BIGSERIAL PRIMARY KEY,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    search_types    TEXT    NOT NULL,
    classes         TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    row_quota       BIGINT  NOT NULL,
    valid_from      DATE    NOT NULL,
    valid_to        DATE    NOT NULL,
    approved_by     TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at      TIMESTAMP    NOT NULL
);
CREATE INDEX grants_organisation ON grants (organisation_id, status);

CREATE TABLE pos_transactions (
    id               BIGSERIAL PRIMARY KEY,
    client_system_id BIGINT NOT NULL REFERENCES client_systems (id),
    transaction_id   TEXT    NOT NULL,
    payload_sha256   TEXT    NOT NULL,
    store_id         TEXT    NOT NULL,
    terminal_id      TEXT    NOT NULL,
    cnic             TEXT    NOT NULL,
    occurred_at      TIMESTAMP    NOT NULL,
    total_paisa      BIGINT  NOT NULL,
    subsidy_paisa    BIGINT  NOT NULL,
    received_at      TIMESTAMP    NOT NULL,
    UNIQUE (client_system_id, transaction_id)
);
CREATE INDEX pos_transactions_cnic ON pos_transactions (cnic);

CREATE TABLE pos_items (
    id                 BIGSERIAL PRIMARY KEY,
    pos_transaction_id BIGINT NOT NULL REFERENCES pos_transactions (id),
    line_no            INTEGER NOT NULL,
    sku                TEXT    NOT NULL,
    category           TEXT    NOT NULL,
    quantity           DOUBLE PRECISION NOT NULL,
    unit_price_paisa   BIGINT  NOT NULL,
    subsidy_paisa      BIGINT  NOT NULL
);
CREATE INDEX pos_items_transaction ON pos_items (pos_transaction_id);
