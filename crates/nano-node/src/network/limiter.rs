//! A token bucket, used for the outbound bandwidth limit (bytes per second, dropping what
//! exceeds it as the reference node does) and for the per-channel inbound message rate.

use std::sync::Mutex;
use std::time::Instant;

/// Refills at `rate` tokens per second up to `rate` (one second of burst). A rate of 0
/// means unlimited.
pub struct TokenBucket {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate: u64) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            state: Mutex::new((rate as f64, Instant::now())),
        }
    }

    /// Takes `n` tokens if available.
    pub fn try_take(&self, n: u64) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
        s.0 = (s.0 + refill).min(self.rate);
        s.1 = now;
        if s.0 >= n as f64 {
            s.0 -= n as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_unlimited() {
        let b = TokenBucket::new(10);
        assert!((0..10).all(|_| b.try_take(1)));
        assert!(!b.try_take(1));
        let u = TokenBucket::new(0);
        assert!((0..1000).all(|_| u.try_take(1000)));
    }
}
