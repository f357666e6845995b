-- The registry: geography, households, members, CCT payments, holds/flags.
-- Portable with migrations/postgres: same tables, columns and indexes.

CREATE TABLE geo_units (
    code        INTEGER PRIMARY KEY NOT NULL,
    level       TEXT    NOT NULL CHECK (level IN ('province', 'district', 'tehsil', 'uc')),
    name        TEXT    NOT NULL,
    parent_code INTEGER REFERENCES geo_units (code)
);
CREATE INDEX geo_units_parent ON geo_units (parent_code);

CREATE TABLE households (
    id                  BIGINT PRIMARY KEY NOT NULL,
    province_code       INTEGER NOT NULL,
    district_code       INTEGER NOT NULL,
    tehsil_code         INTEGER NOT NULL,
    uc_code             INTEGER NOT NULL,
    village             TEXT    NOT NULL,
    address_line        TEXT    NOT NULL,
    latitude            DOUBLE PRECISION    NOT NULL,
    longitude           DOUBLE PRECISION    NOT NULL,
    rooms               INTEGER NOT NULL,
    tenure              TEXT    NOT NULL,
    wall_material       TEXT    NOT NULL,
    roof_material       TEXT    NOT NULL,
    toilet              TEXT    NOT NULL,
    water_source        TEXT    NOT NULL,
    electricity         TEXT    NOT NULL,
    cooking_fuel        TEXT    NOT NULL,
    has_refrigerator    BOOLEAN NOT NULL,
    has_television      BOOLEAN NOT NULL,
    has_washing_machine BOOLEAN NOT NULL,
    has_air_conditioner BOOLEAN NOT NULL,
    has_motorcycle      BOOLEAN NOT NULL,
    has_car             BOOLEAN NOT NULL,
    land_acres          DOUBLE PRECISION    NOT NULL,
    cattle              INTEGER NOT NULL,
    goats_sheep         INTEGER NOT NULL,
    size                INTEGER NOT NULL,
    pmt_score           DOUBLE PRECISION    NOT NULL CHECK (pmt_score >= 0 AND pmt_score <= 100),
    survey_date         DATE    NOT NULL,
    beneficiary_status  TEXT    NOT NULL,
    programme           TEXT,
    enrolment_date      DATE,
    beneficiary_cnic    TEXT,
    payment_channel     TEXT
);
-- Geography codes are globally unique at every level, so one index per level
-- serves both "households in this area" and "PMT range within this area".
CREATE INDEX households_province_pmt ON households (province_code, pmt_score);
CREATE INDEX households_district_pmt ON households (district_code, pmt_score);
CREATE INDEX households_tehsil_pmt   ON households (tehsil_code, pmt_score);
CREATE INDEX households_uc_pmt       ON households (uc_code, pmt_score);

CREATE TABLE members (
    id                BIGINT PRIMARY KEY NOT NULL,
    household_id      BIGINT NOT NULL REFERENCES households (id),
    line_no           INTEGER NOT NULL,
    cnic              TEXT    NOT NULL,
    full_name         TEXT    NOT NULL,
    guardian_name     TEXT    NOT NULL,
    relation          TEXT    NOT NULL,
    gender            TEXT    NOT NULL,
    date_of_birth     DATE    NOT NULL,
    marital_status    TEXT    NOT NULL,
    disability        TEXT    NOT NULL,
    education         TEXT    NOT NULL,
    school_enrolled   BOOLEAN,
    employment_status TEXT    NOT NULL,
    occupation        TEXT,
    contact_number    TEXT,
    sensitive_answers TEXT
);
CREATE UNIQUE INDEX members_cnic ON members (cnic);
CREATE INDEX members_household ON members (household_id, line_no);

CREATE TABLE cct_payments (
    id           BIGINT PRIMARY KEY NOT NULL,
    household_id BIGINT NOT NULL REFERENCES households (id),
    instalment   TEXT    NOT NULL,
    amount_pkr   BIGINT NOT NULL,
    paid_on      DATE    NOT NULL,
    channel      TEXT    NOT NULL
);
CREATE INDEX cct_payments_household ON cct_payments (household_id);

CREATE TABLE household_flags (
    id           BIGINT PRIMARY KEY NOT NULL,
    household_id BIGINT NOT NULL REFERENCES households (id),
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    source_ref   TEXT    NOT NULL,
    raised_at    TIMESTAMP    NOT NULL,
    cleared_at   TIMESTAMP,
    note         TEXT
);
CREATE INDEX household_flags_household ON household_flags (household_id);
