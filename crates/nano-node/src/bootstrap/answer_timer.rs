//! When the ascending client presumes a request lost: per channel, a retransmission
//! timeout from the round trips that channel's answers took (the estimator of TCP's
//! RFC 6298), never longer than `request_timeout`.
//!
//! Why: a serving node drops an `asc_pull_ack` once its outbound bootstrap traffic is
//! over `bootstrap_bandwidth_limit` (5 MiB/s by default, the reference's rule, and the
//! reference does the same), and nothing tells the client. When the limit bites it
//! usually drops every answer in flight at once, so each of the channel's
//! `channel_limit` slots then waited the full `request_timeout` (5 s) before the pulls
//! were asked again: measured on the one-peer sync of the 10M ledger, 16 answers lost
//! every 5–10 s, the client stalled about half the time with both machines idle. An
//! answer that has not come within a few round trips of what this channel usually
//! takes is gone in all but a pathological case; asking again then costs the peer one
//! more answer, waiting costs seconds of the sync.

use std::time::Duration;

/// The shortest a request is waited for before it is presumed lost: Linux's minimum
/// TCP retransmission timeout, so a peer's scheduling pause or a delayed ACK is not
/// read as loss on a fast link (loopback round trips are a few milliseconds).
pub(crate) const LOST_AFTER_MIN: Duration = Duration::from_millis(200);

/// Weight of a new round trip in the smoothed round trip (RFC 6298's alpha, 1/8).
const SRTT_GAIN: f64 = 0.125;
/// Weight of a new deviation in the round trip's variation (RFC 6298's beta, 1/4).
const RTTVAR_GAIN: f64 = 0.25;
/// Deviations added to the smoothed round trip (RFC 6298's K): a channel whose answers
/// vary widely gets a long wait.
const RTTVAR_FACTOR: f64 = 4.0;

/// One channel's round-trip estimate.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerTimer {
    /// Smoothed round trip and its mean deviation, in seconds; `None` before the first
    /// answer.
    estimate: Option<(f64, f64)>,
}

impl AnswerTimer {
    /// Takes the round trip of one answered request.
    pub(crate) fn observe(&mut self, round_trip: Duration) {
        let r = round_trip.as_secs_f64();
        self.estimate = Some(match self.estimate {
            None => (r, r / 2.0),
            Some((srtt, rttvar)) => {
                let rttvar = (1.0 - RTTVAR_GAIN) * rttvar + RTTVAR_GAIN * (srtt - r).abs();
                let srtt = (1.0 - SRTT_GAIN) * srtt + SRTT_GAIN * r;
                (srtt, rttvar)
            }
        });
    }

    /// How long a request on this channel is waited for: the smoothed round trip plus
    /// four deviations, at least [`LOST_AFTER_MIN`], at most `ceiling` (the configured
    /// `request_timeout`, which also applies alone until the channel answered once).
    pub(crate) fn lost_after(&self, ceiling: Duration) -> Duration {
        let Some((srtt, rttvar)) = self.estimate else {
            return ceiling;
        };
        let rto = Duration::try_from_secs_f64(srtt + RTTVAR_FACTOR * rttvar).unwrap_or(ceiling);
        rto.max(LOST_AFTER_MIN).min(ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEILING: Duration = Duration::from_secs(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_channel_that_never_answered_gets_the_configured_timeout() {
        assert_eq!(AnswerTimer::default().lost_after(CEILING), CEILING);
    }

    #[test]
    fn fast_steady_answers_are_waited_for_the_floor_only() {
        let mut t = AnswerTimer::default();
        for _ in 0..50 {
            t.observe(ms(5));
        }
        assert_eq!(t.lost_after(CEILING), LOST_AFTER_MIN);
    }

    #[test]
    fn the_wait_follows_a_slow_peer_and_its_variation() {
        let mut t = AnswerTimer::default();
        t.observe(ms(400));
        // First answer: 400 ms + 4 × 200 ms.
        assert_eq!(t.lost_after(CEILING), ms(1200));
        for _ in 0..100 {
            t.observe(ms(400));
        }
        // Steady: the deviation decays, the wait approaches the round trip itself.
        let steady = t.lost_after(CEILING);
        assert!(steady >= ms(400) && steady < ms(450), "{steady:?}");
        // Answers alternating 100 and 900 ms: the wait covers the slow ones.
        for i in 0..100 {
            t.observe(ms(if i % 2 == 0 { 100 } else { 900 }));
        }
        let varied = t.lost_after(CEILING);
        assert!(varied > ms(900), "{varied:?}");
    }

    #[test]
    fn the_configured_timeout_caps_the_wait() {
        let mut t = AnswerTimer::default();
        t.observe(ms(4000));
        assert_eq!(t.lost_after(CEILING), CEILING);
        assert_eq!(t.lost_after(ms(100)), ms(100));
    }
}
