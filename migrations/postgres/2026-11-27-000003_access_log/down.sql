DROP TABLE closed_periods;
DROP TABLE bill_lines;
DROP TABLE usage_daily;
DROP TABLE access_log;
DROP TABLE access_chain_head;
DROP TABLE access_batches;
