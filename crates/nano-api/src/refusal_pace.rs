//! Pacing of the slow-action pool's refusals per client: a client refused because the
//! pool or its own queue is full gets its refusals at most one per [`REFUSAL_SPACING`],
//! the first at once and each further one when its turn comes.
//!
//! A refusal is cheap, but not free: the request is read, parsed and answered on the
//! server's runtime threads. Answered at once, a client that sends its next slow call as
//! soon as it is refused turns the refusal into a busy loop: 64 keep-alive connections
//! from one address drew some 28,000 refusals a second, on the threads that also answer
//! everyone else. Paced, the same client draws at most `1 / REFUSAL_SPACING` a second
//! however many connections it opens (each waiting request holds only its connection,
//! which the server's connection cap bounds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::worker_pool::Client;

/// Least time between two refusals of one client: twenty a second tells a well-behaved
/// client to come back later as well as thousands do, and costs the server nothing it
/// would notice.
pub const REFUSAL_SPACING: Duration = Duration::from_millis(50);

/// Clients whose next refusal slot is remembered. Beyond it, slots already passed are
/// forgotten; if every remembered slot is still ahead (an attacker refused from this
/// many addresses at once), a further client's refusal is answered at once, as before
/// pacing. Entries of a few dozen bytes.
pub const PACED_CLIENTS: usize = 4096;

/// The next refusal slot of each recently refused client.
pub struct RefusalPace {
    /// Nanoseconds; changeable while serving (a benchmark compares with and without).
    spacing: AtomicU64,
    next: Mutex<HashMap<Client, Instant>>,
}

impl RefusalPace {
    /// Refusals of one client at least `spacing` apart (zero: all at once).
    pub fn new(spacing: Duration) -> RefusalPace {
        RefusalPace {
            spacing: AtomicU64::new(nanos(spacing)),
            next: Mutex::new(HashMap::new()),
        }
    }

    pub fn spacing(&self) -> Duration {
        Duration::from_nanos(self.spacing.load(Ordering::Relaxed))
    }

    /// Changes the spacing of refusals decided from now on.
    pub fn set_spacing(&self, spacing: Duration) {
        self.spacing.store(nanos(spacing), Ordering::Relaxed);
    }

    /// When a refusal of `client` decided at `now` may be answered, and takes that slot.
    pub fn slot(&self, client: Client, now: Instant) -> Instant {
        let spacing = self.spacing();
        if spacing.is_zero() {
            return now;
        }
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let at = next.get(&client).map_or(now, |t| (*t).max(now));
        if !next.contains_key(&client) && next.len() >= PACED_CLIENTS {
            next.retain(|_, t| *t > now);
            if next.len() >= PACED_CLIENTS {
                return now;
            }
        }
        next.insert(client, at + spacing);
        at
    }

    /// Waits for `client`'s next refusal slot.
    pub async fn wait(&self, client: Client) {
        let at = self.slot(client, Instant::now());
        tokio::time::sleep_until(at.into()).await;
    }

    /// Clients remembered (for tests).
    pub fn remembered(&self) -> usize {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn client(i: u32) -> Client {
        Client::Ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }

    #[test]
    fn one_clients_refusals_are_spaced_and_others_are_not_delayed() {
        let d = Duration::from_millis(50);
        let pace = RefusalPace::new(d);
        let t0 = Instant::now();
        assert_eq!(pace.slot(client(1), t0), t0, "the first at once");
        assert_eq!(pace.slot(client(1), t0), t0 + d);
        assert_eq!(pace.slot(client(1), t0), t0 + 2 * d);
        assert_eq!(
            pace.slot(client(2), t0),
            t0,
            "another client is not paced by it"
        );
        // Once its slots have passed, a client is answered at once again.
        let later = t0 + 10 * d;
        assert_eq!(pace.slot(client(1), later), later);
        assert_eq!(pace.slot(client(1), later), later + d);
    }

    #[test]
    fn zero_spacing_answers_at_once() {
        let pace = RefusalPace::new(Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(pace.slot(client(1), t0), t0);
        }
        assert_eq!(pace.remembered(), 0);
        // Turned on while serving.
        let d = Duration::from_millis(10);
        pace.set_spacing(d);
        assert_eq!(pace.slot(client(1), t0), t0);
        assert_eq!(pace.slot(client(1), t0), t0 + d);
    }

    #[test]
    fn the_table_is_bounded() {
        let d = Duration::from_secs(1);
        let pace = RefusalPace::new(d);
        let t0 = Instant::now();
        for i in 0..PACED_CLIENTS as u32 + 10 {
            pace.slot(client(i), t0);
        }
        assert_eq!(pace.remembered(), PACED_CLIENTS);
        // Full of slots still ahead: a new client is answered at once, unpaced.
        let extra = client(PACED_CLIENTS as u32 + 100);
        assert_eq!(pace.slot(extra, t0), t0);
        assert_eq!(pace.slot(extra, t0), t0);
        // Once those slots pass they are forgotten to make room.
        let later = t0 + 2 * d;
        assert_eq!(pace.slot(extra, later), later);
        assert_eq!(pace.remembered(), 1);
        assert_eq!(pace.slot(extra, later), later + d, "paced again");
    }
}
