//! End-to-end tests: the real `nser-gateway` binary, a generated PKI and
//! registry, and a real HTTPS client presenting client certificates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
#![allow(
    clippy::too_many_lines,
    reason = "an end-to-end scenario reads best top to bottom"
)]

mod access_log;
mod billing;
mod by_cnic;
mod helpers;
mod limits;
mod refusals;
mod robustness;
mod rotation;
mod search;
mod till;
mod tls_listener;
