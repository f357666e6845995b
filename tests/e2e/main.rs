//! End-to-end tests: the real `nser-gateway` binary, a generated PKI and
//! registry, and a real HTTPS client presenting client certificates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod helpers;
mod tls_listener;
