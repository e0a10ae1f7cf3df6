//! When the ascending client presumes a request lost: per channel and kind of request
//! (blocks, account info, frontiers: a peer may take longer over one kind), a
//! retransmission timeout from the round trips of that channel's answers (the estimator
//! and the backoff of TCP's RFC 6298), never longer than `request_timeout`.
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
//!
//! An answer that still comes after its request was presumed lost is not used (the pull
//! was asked again) but its round trip is taken, and each loss doubles the kind's wait
//! until an answer comes, so a peer that is slow rather than dropping teaches the timer
//! to wait for it instead of being asked again forever.

use std::time::{Duration, Instant};

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
/// Doublings of the wait after losses in a row: 64 × the floor is 12.8 s, past any
/// `request_timeout` worth configuring, which caps the wait anyway.
const BACKOFF_MAX: u32 = 6;

/// The kinds of request timed apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerKind {
    Blocks,
    AccountInfo,
    Frontiers,
}

impl AnswerKind {
    fn index(self) -> usize {
        match self {
            AnswerKind::Blocks => 0,
            AnswerKind::AccountInfo => 1,
            AnswerKind::Frontiers => 2,
        }
    }
}

/// One channel's answer timers.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerTimer {
    kinds: [KindTimer; 3],
}

#[derive(Debug, Clone, Default)]
struct KindTimer {
    /// Smoothed round trip and its mean deviation, in seconds; `None` before the first
    /// answer.
    estimate: Option<(f64, f64)>,
    /// Losses since the last answer (each doubles the wait).
    backoff: u32,
    /// When the last loss was declared: requests sent before it were waited for with
    /// the wait before that loss, so their loss counts as the same event (as TCP backs
    /// off once per expiry, not once per segment lost with it).
    last_loss: Option<Instant>,
}

impl AnswerTimer {
    /// Takes the round trip of one answer (on time or late).
    pub(crate) fn observe(&mut self, kind: AnswerKind, round_trip: Duration) {
        let t = &mut self.kinds[kind.index()];
        let r = round_trip.as_secs_f64();
        t.estimate = Some(match t.estimate {
            None => (r, r / 2.0),
            Some((srtt, rttvar)) => {
                let rttvar = (1.0 - RTTVAR_GAIN) * rttvar + RTTVAR_GAIN * (srtt - r).abs();
                let srtt = (1.0 - SRTT_GAIN) * srtt + SRTT_GAIN * r;
                (srtt, rttvar)
            }
        });
        t.backoff = 0;
    }

    /// A request of this kind sent at `sent` was presumed lost at `now`: requests sent
    /// from now on wait twice as long (a burst of requests lost together counts once).
    pub(crate) fn lost(&mut self, kind: AnswerKind, sent: Instant, now: Instant) {
        let t = &mut self.kinds[kind.index()];
        if t.last_loss.is_none_or(|at| sent >= at) {
            t.backoff = (t.backoff + 1).min(BACKOFF_MAX);
            t.last_loss = Some(now);
        }
    }

    /// How long a request of this kind is waited for: the smoothed round trip plus
    /// four deviations, at least [`LOST_AFTER_MIN`], doubled per loss since the last
    /// answer, at most `ceiling` (the configured `request_timeout`, which also applies
    /// alone until the kind was answered once).
    pub(crate) fn lost_after(&self, kind: AnswerKind, ceiling: Duration) -> Duration {
        let t = &self.kinds[kind.index()];
        let Some((srtt, rttvar)) = t.estimate else {
            return ceiling;
        };
        let rto = Duration::try_from_secs_f64(srtt + RTTVAR_FACTOR * rttvar).unwrap_or(ceiling);
        (rto.max(LOST_AFTER_MIN) * (1u32 << t.backoff)).min(ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEILING: Duration = Duration::from_secs(5);
    const B: AnswerKind = AnswerKind::Blocks;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_kind_never_answered_gets_the_configured_timeout() {
        let mut t = AnswerTimer::default();
        assert_eq!(t.lost_after(B, CEILING), CEILING);
        t.observe(B, ms(5));
        assert_eq!(t.lost_after(AnswerKind::Frontiers, CEILING), CEILING);
        assert_eq!(t.lost_after(AnswerKind::AccountInfo, CEILING), CEILING);
    }

    #[test]
    fn fast_steady_answers_are_waited_for_the_floor_only() {
        let mut t = AnswerTimer::default();
        for _ in 0..50 {
            t.observe(B, ms(5));
        }
        assert_eq!(t.lost_after(B, CEILING), LOST_AFTER_MIN);
    }

    #[test]
    fn the_wait_follows_a_slow_peer_and_its_variation() {
        let mut t = AnswerTimer::default();
        t.observe(B, ms(400));
        // First answer: 400 ms + 4 × 200 ms.
        assert_eq!(t.lost_after(B, CEILING), ms(1200));
        for _ in 0..100 {
            t.observe(B, ms(400));
        }
        // Steady: the deviation decays, the wait approaches the round trip itself.
        let steady = t.lost_after(B, CEILING);
        assert!(steady >= ms(400) && steady < ms(450), "{steady:?}");
        // Answers alternating 100 and 900 ms: the wait covers the slow ones.
        for i in 0..100 {
            t.observe(B, ms(if i % 2 == 0 { 100 } else { 900 }));
        }
        let varied = t.lost_after(B, CEILING);
        assert!(varied > ms(900), "{varied:?}");
    }

    #[test]
    fn each_loss_doubles_the_wait_until_an_answer_comes() {
        let mut t = AnswerTimer::default();
        for _ in 0..50 {
            t.observe(B, ms(5));
        }
        let t0 = Instant::now();
        // Sixteen requests sent together, lost together: one doubling.
        for _ in 0..16 {
            t.lost(B, t0, t0 + ms(200));
        }
        assert_eq!(t.lost_after(B, CEILING), LOST_AFTER_MIN * 2);
        // Asked again after that loss, and lost again: the wait doubles again.
        t.lost(B, t0 + ms(210), t0 + ms(610));
        assert_eq!(t.lost_after(B, CEILING), LOST_AFTER_MIN * 4);
        for i in 1..=10 {
            t.lost(B, t0 + ms(1000 * i), t0 + ms(1000 * i + 500));
        }
        assert_eq!(t.lost_after(B, CEILING), CEILING);
        // Other kinds keep their own wait.
        t.observe(AnswerKind::Frontiers, ms(5));
        assert_eq!(t.lost_after(AnswerKind::Frontiers, CEILING), LOST_AFTER_MIN);
        // A late answer of 700 ms ends the backoff and lengthens the wait past it.
        t.observe(B, ms(700));
        let after = t.lost_after(B, CEILING);
        assert!(after > ms(700) && after < CEILING, "{after:?}");
    }

    #[test]
    fn the_configured_timeout_caps_the_wait() {
        let mut t = AnswerTimer::default();
        t.observe(B, ms(4000));
        assert_eq!(t.lost_after(B, CEILING), CEILING);
        assert_eq!(t.lost_after(B, ms(100)), ms(100));
    }
}
