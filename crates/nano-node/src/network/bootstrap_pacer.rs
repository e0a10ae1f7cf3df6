//! Bootstrap messages over `bootstrap_bandwidth_limit` wait for the budget, up to a
//! bounded amount, instead of being dropped at once.
//!
//! Why: nothing tells a peer that its `asc_pull_ack` was dropped, so its request holds
//! one of its `channel_limit` slots until it times out (5 s in the reference's client;
//! a few round trips in ours, `bootstrap::answer_timer`). And over the limit the bucket
//! is empty for every answer in flight, so a client asking faster than the budget lost
//! all sixteen at once, again and again (measured on the one-peer sync of the 10M
//! ledger: 617–633 answers dropped in the first 2M, each waited out for 5 s, half the
//! sync stalled). Held here instead, an answer goes out as soon as the budget has room
//! for it: the bytes per second stay within the limit (the bucket is drawn on as
//! before), and the peer sees a longer round trip rather than a loss.
//!
//! Only TCP channels are paced (UDP datagrams keep the drop); what is held is bounded
//! by what the budget sends in [`PACE_WAIT_MAX`], half of that per channel, and past
//! that a message is dropped as before. Once anything waits, later bootstrap messages
//! queue behind it, so small ones cannot keep taking the budget a large one waits for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use super::channel::Channel;
use super::limiter::TokenBucket;
use crate::interfaces::{ChannelId, TrafficType};

/// The longest a message waits here: what is held is bounded by what the budget sends
/// in this time, so a peer's round trip grows by at most 100 ms (a lost answer costs it
/// seconds in the reference's client, and our client's loss timer waits at least 200 ms).
/// At the default 5 MiB/s that is 512 kB, about eighteen full answers (128 blocks,
/// ~28 kB each).
pub(crate) const PACE_WAIT_MAX: Duration = Duration::from_millis(100);
/// Bytes held at most whatever the configured rate (a very high limit would otherwise
/// allow tens of MB here): 4 MiB is 100 ms at 40 MiB/s.
pub(crate) const PACED_BYTES_MAX: usize = 4 << 20;
/// One channel may hold this share of the bound (half), so a peer asking far more than
/// the budget cannot take it all from the others.
const PER_CHANNEL_SHARE: usize = 2;

struct Held {
    ch: Arc<Channel>,
    bytes: Bytes,
    kind: &'static str,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Held>,
    bytes: usize,
    per_channel: HashMap<ChannelId, usize>,
}

impl Queue {
    fn pop(&mut self) -> Option<Held> {
        let h = self.items.pop_front()?;
        self.bytes -= h.bytes.len();
        if let Some(n) = self.per_channel.get_mut(&h.ch.info.id) {
            *n -= h.bytes.len();
            if *n == 0 {
                self.per_channel.remove(&h.ch.info.id);
            }
        }
        Some(h)
    }
}

/// What refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The bound ([`PACE_WAIT_MAX`] of the budget, at most [`PACED_BYTES_MAX`]) reached.
    All,
    /// This channel's share of the bound reached.
    Channel,
    /// Larger than the whole bucket: it could never pass.
    TooLarge,
}

/// The held bootstrap messages, drained by [`run`].
#[derive(Default)]
pub(crate) struct BootstrapPacer {
    queue: Mutex<Queue>,
    wake: Notify,
}

impl BootstrapPacer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether messages wait (new ones then queue behind them).
    pub(crate) fn is_waiting(&self) -> bool {
        !self.lock().items.is_empty()
    }

    /// Holds `bytes` for `ch` until the budget has room.
    pub(crate) fn hold(
        &self,
        bucket: &TokenBucket,
        ch: &Arc<Channel>,
        bytes: Bytes,
        kind: &'static str,
    ) -> Result<(), Full> {
        let n = bytes.len();
        if !bucket.can_ever_take(n as u64) {
            return Err(Full::TooLarge);
        }
        let bound = ((bucket.rate() * PACE_WAIT_MAX.as_secs_f64()) as usize).min(PACED_BYTES_MAX);
        {
            let mut q = self.lock();
            if q.bytes + n > bound {
                return Err(Full::All);
            }
            let held = q.per_channel.get(&ch.info.id).copied().unwrap_or(0);
            if held + n > bound / PER_CHANNEL_SHARE {
                return Err(Full::Channel);
            }
            q.bytes += n;
            *q.per_channel.entry(ch.info.id).or_default() += n;
            q.items.push_back(Held {
                ch: ch.clone(),
                bytes,
                kind,
            });
        }
        self.wake.notify_one();
        Ok(())
    }
}

/// Sends the held messages in order as the budget refills, until `stop`.
pub(crate) async fn run(
    inner: Arc<super::Inner>,
    pacer: Arc<BootstrapPacer>,
    stop: tokio_util::sync::CancellationToken,
) {
    let bucket = inner.bandwidth.bootstrap_bucket();
    loop {
        let head = {
            let mut q = pacer.lock();
            // A channel closed while its message waited: no budget is spent on it.
            while q.items.front().is_some_and(|h| h.ch.is_closed()) {
                q.pop();
            }
            q.items.front().map(|h| h.bytes.len())
        };
        let Some(n) = head else {
            tokio::select! {
                _ = pacer.wake.notified() => continue,
                _ = stop.cancelled() => return,
            }
        };
        if !bucket.try_take(n as u64) {
            let wait = bucket
                .time_until(n as u64)
                .unwrap_or(Duration::from_millis(1))
                .max(Duration::from_millis(1));
            tokio::select! {
                _ = tokio::time::sleep(wait) => continue,
                _ = stop.cancelled() => return,
            }
        }
        let Some(h) = pacer.lock().pop() else {
            continue;
        };
        inner.queue_on_channel(&h.ch, h.bytes, h.kind, TrafficType::Bootstrap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// 100 ms of this budget is 10 kB: 5 kB per channel.
    const RATE: u64 = 100_000;

    fn channel(id: u64) -> Arc<Channel> {
        let ep = std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 7000 + id as u16, 0, 0);
        Channel::for_test(id, ep, super::super::channel::Transport::Tcp)
    }

    fn msg(tag: u8, len: usize) -> Bytes {
        Bytes::from(vec![tag; len])
    }

    #[test]
    fn holds_up_to_the_channels_share_and_the_bound_then_refuses() {
        let bucket = TokenBucket::new(RATE);
        let p = BootstrapPacer::default();
        let (a, b, c) = (channel(1), channel(2), channel(3));
        assert!(!p.is_waiting());
        // Channel a: 5 kB share.
        assert_eq!(p.hold(&bucket, &a, msg(1, 3000), "asc_pull_ack"), Ok(()));
        assert!(p.is_waiting());
        assert_eq!(p.hold(&bucket, &a, msg(2, 2000), "asc_pull_ack"), Ok(()));
        assert_eq!(
            p.hold(&bucket, &a, msg(3, 1), "asc_pull_ack"),
            Err(Full::Channel)
        );
        // Channel b takes the rest of the 10 kB bound; c finds it full.
        assert_eq!(p.hold(&bucket, &b, msg(4, 5000), "asc_pull_ack"), Ok(()));
        assert_eq!(
            p.hold(&bucket, &c, msg(5, 1), "asc_pull_ack"),
            Err(Full::All)
        );
        // Larger than the whole bucket: could never go out.
        assert_eq!(
            p.hold(&bucket, &c, msg(6, RATE as usize + 1), "asc_pull_ack"),
            Err(Full::TooLarge)
        );
        // Sent in the order held; each one sent frees its bytes and its channel's share.
        let order: Vec<(u64, u8)> = std::iter::from_fn(|| p.lock().pop())
            .map(|h| (h.ch.info.id, h.bytes[0]))
            .collect();
        assert_eq!(order, vec![(1, 1), (1, 2), (2, 4)]);
        assert!(!p.is_waiting());
        let q = p.lock();
        assert_eq!(q.bytes, 0);
        assert!(q.per_channel.is_empty());
    }

    #[test]
    fn the_bound_follows_the_configured_rate_up_to_its_cap() {
        let p = BootstrapPacer::default();
        let a = channel(1);
        // 1 GB/s would allow 100 MB in 100 ms; the cap keeps it at 4 MiB (2 per channel).
        let fast = TokenBucket::new(1_000_000_000);
        let half = PACED_BYTES_MAX / PER_CHANNEL_SHARE;
        assert_eq!(p.hold(&fast, &a, msg(1, half), "asc_pull_ack"), Ok(()));
        assert_eq!(
            p.hold(&fast, &a, msg(2, 1), "asc_pull_ack"),
            Err(Full::Channel)
        );
    }

    #[test]
    fn time_until_tokens_follows_the_rate() {
        let bucket = TokenBucket::new(RATE);
        let t0 = Instant::now();
        assert!(bucket.try_take_at(RATE, t0));
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis());
        assert_eq!(ms(bucket.time_until_at(RATE / 2, t0)), Some(500));
        assert_eq!(
            ms(bucket.time_until_at(RATE / 2, t0 + Duration::from_millis(250))),
            Some(250)
        );
        assert_eq!(
            ms(bucket.time_until_at(RATE / 2, t0 + Duration::from_secs(1))),
            Some(0)
        );
        assert_eq!(bucket.time_until_at(RATE + 1, t0), None);
        assert_eq!(
            TokenBucket::new(0).time_until(u64::MAX),
            Some(Duration::ZERO)
        );
    }
}
