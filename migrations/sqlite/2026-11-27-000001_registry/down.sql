DROP TABLE household_flags;
DROP TABLE cct_payments;
DROP TABLE members;
DROP TABLE households;
DROP TABLE geo_units;
