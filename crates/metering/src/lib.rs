//! Rows served per client, rate cards and bills (arrives with the metering issue).
