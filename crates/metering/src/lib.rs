//! Rows served per client, the access log that records them, and the bills
//! built from it. The log is durable before a response leaves: a single
//! writer commits records in batches that form a hash chain.

pub mod bills;
pub mod chain;
pub mod journal;
pub mod rates;
pub mod verify;
pub mod writer;
