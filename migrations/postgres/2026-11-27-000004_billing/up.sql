-- What a bill line and a closed period need beyond bill_lines and
-- closed_periods, so a closed bill reads back exactly as it was exported:
-- the organisation's name and rate class, the rate's unit, the requests,
-- and the rate segment a charge line covers. Written once, with the line.

CREATE TABLE bill_line_details (
    line_id           BIGINT PRIMARY KEY NOT NULL REFERENCES bill_lines (id),
    organisation_name TEXT   NOT NULL,
    rate_class        TEXT   NOT NULL,
    per_rows          BIGINT NOT NULL,
    requests          BIGINT NOT NULL,
    segment_from      DATE,
    segment_to        DATE
);

CREATE TABLE closed_period_details (
    period          TEXT    PRIMARY KEY NOT NULL REFERENCES closed_periods (period),
    log_requests    BIGINT  NOT NULL,
    billed_requests BIGINT  NOT NULL,
    rate_card       TEXT    NOT NULL,
    sample_rates    BOOLEAN NOT NULL
);
