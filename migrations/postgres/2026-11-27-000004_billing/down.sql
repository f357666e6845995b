DROP TABLE closed_period_details;
DROP TABLE bill_line_details;
