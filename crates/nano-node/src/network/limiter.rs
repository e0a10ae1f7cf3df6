//! Token buckets: the outbound bandwidth limits per traffic type (the reference node's
//! `bandwidth_limit` and `bootstrap_bandwidth_limit` with their burst ratios, dropping
//! what exceeds them) and the rate of answered UDP handshakes.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::NodeConfig;
use crate::interfaces::TrafficType;

/// Refills at `rate` tokens per second up to `capacity`. A rate of 0 means unlimited,
/// as in the reference node's configuration.
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A bucket holding one second of tokens.
    pub fn new(rate: u64) -> TokenBucket {
        TokenBucket::with_burst(rate, 1.0)
    }

    /// A bucket holding `rate × burst_ratio` tokens (the reference's `limit × burst
    /// ratio`), starting full. A capacity that rounds to 0 also means unlimited, as the
    /// reference treats a bucket of no tokens.
    pub fn with_burst(rate: u64, burst_ratio: f64) -> TokenBucket {
        let capacity = (rate as f64 * burst_ratio.max(0.0)).floor();
        let rate = if capacity < 1.0 { 0.0 } else { rate as f64 };
        TokenBucket {
            rate,
            capacity,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// Tokens added per second (0: unlimited).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether `n` tokens could ever be taken at once (a bucket smaller than `n` never
    /// holds them; an unlimited one always does).
    pub fn can_ever_take(&self, n: u64) -> bool {
        self.rate <= 0.0 || n as f64 <= self.capacity
    }

    /// How long until `n` tokens are there at the current rate (zero if they are now);
    /// `None` if they never will be ([`Self::can_ever_take`]).
    pub fn time_until(&self, n: u64) -> Option<std::time::Duration> {
        self.time_until_at(n, Instant::now())
    }

    /// As [`Self::time_until`] at the instant `now`.
    pub fn time_until_at(&self, n: u64, now: Instant) -> Option<std::time::Duration> {
        if !self.can_ever_take(n) {
            return None;
        }
        if self.rate <= 0.0 {
            return Some(std::time::Duration::ZERO);
        }
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let have =
            (s.0 + now.saturating_duration_since(s.1).as_secs_f64() * self.rate).min(self.capacity);
        let missing = (n as f64 - have).max(0.0);
        Some(std::time::Duration::from_secs_f64(missing / self.rate))
    }

    /// Takes `n` tokens if available.
    pub fn try_take(&self, n: u64) -> bool {
        self.try_take_at(n, Instant::now())
    }

    /// As [`Self::try_take`] at the instant `now` (tests drive a clock of their own;
    /// an instant earlier than the last one adds nothing).
    pub fn try_take_at(&self, n: u64, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now > s.1 {
            let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
            s.0 = (s.0 + refill).min(self.capacity);
            s.1 = now;
        }
        if s.0 >= n as f64 {
            s.0 -= n as f64;
            true
        } else {
            false
        }
    }
}

/// The outbound bandwidth limits, one bucket per traffic type as in the reference node:
/// ascending-bootstrap traffic (`asc_pull_req`/`asc_pull_ack`, [`TrafficType::Bootstrap`])
/// draws on `bootstrap_bandwidth_limit`, everything else on `bandwidth_limit`.
pub struct BandwidthLimiter {
    generic: TokenBucket,
    bootstrap: TokenBucket,
}

impl BandwidthLimiter {
    pub fn new(config: &NodeConfig) -> BandwidthLimiter {
        BandwidthLimiter {
            generic: TokenBucket::with_burst(
                config.bandwidth_limit,
                config.bandwidth_limit_burst_ratio,
            ),
            bootstrap: TokenBucket::with_burst(
                config.bootstrap_bandwidth_limit,
                config.bootstrap_bandwidth_burst_ratio,
            ),
        }
    }

    fn bucket(&self, traffic: TrafficType) -> &TokenBucket {
        match traffic {
            TrafficType::Bootstrap => &self.bootstrap,
            TrafficType::Realtime | TrafficType::Background => &self.generic,
        }
    }

    /// The bucket of ascending-bootstrap traffic (the pacer waits on it).
    pub(crate) fn bootstrap_bucket(&self) -> &TokenBucket {
        &self.bootstrap
    }

    /// Takes `bytes` from the bucket of `traffic`; false when it is over its limit.
    /// Traffic the caller sends regardless (the reference's `no_limiter_drop`) calls
    /// this too, so it still uses up the budget of droppable traffic.
    pub fn should_pass(&self, bytes: usize, traffic: TrafficType) -> bool {
        self.bucket(traffic).try_take(bytes as u64)
    }

    #[cfg(test)]
    fn should_pass_at(&self, bytes: usize, traffic: TrafficType, now: Instant) -> bool {
        self.bucket(traffic).try_take_at(bytes as u64, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_and_unlimited() {
        let b = TokenBucket::new(10);
        assert!((0..10).all(|_| b.try_take(1)));
        assert!(!b.try_take(1));
        let u = TokenBucket::new(0);
        assert!((0..1000).all(|_| u.try_take(1000)));
        let zero_burst = TokenBucket::with_burst(100, 0.0);
        assert!(zero_burst.try_take(1_000_000));
    }

    /// Bytes passed over `periods` refill periods of a fake clock never exceed the
    /// burst plus the rate times the time elapsed, and a saturated sender gets close
    /// to that bound (the limit is not stricter than configured either).
    #[test]
    fn bytes_passed_stay_under_rate_times_time_plus_burst() {
        const RATE: u64 = 10_000;
        const MSG: u64 = 300;
        for burst in [1.0, 3.0] {
            let b = TokenBucket::with_burst(RATE, burst);
            let t0 = Instant::now();
            let mut passed = 0u64;
            let periods = 50u32;
            let step = Duration::from_millis(100);
            for p in 0..=periods {
                let now = t0 + step * p;
                // Far more than the budget is offered in every period.
                for _ in 0..200 {
                    if b.try_take_at(MSG, now) {
                        passed += MSG;
                    }
                }
            }
            let elapsed = (step * periods).as_secs_f64();
            let bound = RATE as f64 * burst + RATE as f64 * elapsed;
            assert!(passed as f64 <= bound, "burst {burst}: {passed} > {bound}");
            assert!(
                passed as f64 >= bound - (periods as f64 + 1.0) * MSG as f64,
                "burst {burst}: only {passed} of {bound}"
            );
        }
    }

    #[test]
    fn traffic_types_draw_on_their_own_bucket() {
        let mut c = crate::config::DaemonConfig::defaults(nano_core::Network::Dev).node;
        c.bandwidth_limit = 1_000;
        c.bandwidth_limit_burst_ratio = 3.0;
        c.bootstrap_bandwidth_limit = 500;
        c.bootstrap_bandwidth_burst_ratio = 1.0;
        let l = BandwidthLimiter::new(&c);
        let now = Instant::now();
        // Generic: 3,000 bytes of burst shared by realtime and background traffic.
        assert!(l.should_pass_at(2_000, TrafficType::Realtime, now));
        assert!(l.should_pass_at(1_000, TrafficType::Background, now));
        assert!(!l.should_pass_at(1, TrafficType::Realtime, now));
        // Bootstrap: its own 500 bytes, untouched by the generic traffic above.
        assert!(l.should_pass_at(500, TrafficType::Bootstrap, now));
        assert!(!l.should_pass_at(1, TrafficType::Bootstrap, now));
        // One second later each has refilled by its own rate.
        let later = now + Duration::from_secs(1);
        assert!(l.should_pass_at(1_000, TrafficType::Realtime, later));
        assert!(!l.should_pass_at(1, TrafficType::Realtime, later));
        assert!(l.should_pass_at(500, TrafficType::Bootstrap, later));
        assert!(!l.should_pass_at(1, TrafficType::Bootstrap, later));
    }
}
