//! Per-client rate limits (governor, GCRA): each client system has its own
//! quota from its registration. Answers carry the IETF `RateLimit-Policy` and
//! `RateLimit` headers; a refusal is 429 with `Retry-After`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// The outcome of one check, for the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Requests per second allowed.
    pub per_second: u32,
    /// Burst size (the quota of the policy window).
    pub burst: u32,
    /// Requests left in the burst now.
    pub remaining: u32,
    /// When refused: seconds until a request would be allowed.
    pub retry_after: Option<u64>,
}

impl RateState {
    /// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the burst per window.
    pub fn policy_header(&self) -> String {
        let window = self.burst.div_ceil(self.per_second.max(1)).max(1);
        format!("\"client\";q={};w={window}", self.burst)
    }

    /// `RateLimit`: what is left and when the window resets.
    pub fn limit_header(&self) -> String {
        format!(
            "\"client\";r={};t={}",
            self.remaining,
            self.retry_after.unwrap_or(0)
        )
    }
}

/// A client's limiter with the rate and burst it was built for.
type Entry = (u32, u32, Arc<Limiter>);

/// One limiter per client system, created on first use with its quota and
/// replaced when the quota changes.
#[derive(Default)]
pub struct RateLimits {
    limiters: Mutex<HashMap<i64, Entry>>,
    clock: DefaultClock,
}

impl RateLimits {
    /// Count one request of client `id` against `per_second` sustained and `burst`.
    pub fn check(&self, id: i64, per_second: u32, burst: u32) -> RateState {
        let per_second = per_second.max(1);
        let burst = burst.max(1);
        let limiter = {
            let mut map = self
                .limiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = map
                .entry(id)
                .or_insert_with(|| (per_second, burst, Arc::new(new_limiter(per_second, burst))));
            if entry.0 != per_second || entry.1 != burst {
                *entry = (per_second, burst, Arc::new(new_limiter(per_second, burst)));
            }
            Arc::clone(&entry.2)
        };
        match limiter.check() {
            Ok(snapshot) => RateState {
                per_second,
                burst,
                remaining: snapshot.remaining_burst_capacity(),
                retry_after: None,
            },
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateState {
                    per_second,
                    burst,
                    remaining: 0,
                    retry_after: Some(ceil_secs(wait)),
                }
            }
        }
    }
}

fn new_limiter(per_second: u32, burst: u32) -> Limiter {
    let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
        .with_middleware::<StateInformationMiddleware>()
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limits = RateLimits::default();
        for i in 0..3 {
            let s = limits.check(1, 1, 3);
            assert_eq!(s.retry_after, None, "request {i}");
            assert_eq!(s.remaining, 2 - i);
        }
        let refused = limits.check(1, 1, 3);
        assert_eq!(refused.retry_after, Some(1));
        // Another client has its own budget.
        assert_eq!(limits.check(2, 1, 3).retry_after, None);
        assert_eq!(refused.policy_header(), "\"client\";q=3;w=3");
    }
}
