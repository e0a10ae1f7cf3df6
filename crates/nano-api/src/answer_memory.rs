//! Bytes of RPC answers held in memory until their connections have taken them, per
//! client and in all, and the limits above which a client's next request waits (the
//! node's slow-action pool, [`crate::worker_pool`]) or is refused (`nano_rpc`'s front,
//! [`crate::ipc::forward`]).
//!
//! An answer stays in memory until its connection has taken it, and a server's idle
//! timeout counts any byte, so a client that asks for large answers and reads them slowly
//! (or not at all) on many connections holds `connections_max` × `max_response_size`
//! (32 GiB by default) unless the bytes held are counted and bounded.
//!
//! Bounding the bytes bounds the memory, not the wait: a few addresses that each hold
//! their limit with connections they never read keep the total full, and every other
//! client's slow request waits behind them. So an HTTP answer counted here must also be
//! taken by its connection at [`AnswerMemory::min_rate`] (after [`ANSWER_GRACE`]), or the
//! connection is closed and its bytes given back ([`AnswerMemory::take_within`],
//! enforced by the server through `nano_http::AnswerDeadline`). IPC needs no such rule:
//! its server already writes each answer frame within its `io_timeout`.
//!
//! Closing alone only makes the hold periodic: the client asks again at once, and the
//! node's own scans fill the memory for it again. So a client one of whose connections
//! was closed that way cools off for [`LATE_ANSWER_COOLDOWN`]: its slow requests wait
//! (or, behind `nano_rpc`, are refused) meanwhile, and the memory goes to the others.
//!
//! While everyone together holds the total, only the clients that hold answers themselves
//! wait for room ([`HeldBytes::waits_for_room`]): a client that holds nothing reads its
//! answers, and its requests run, their answers handed over if at most [`SMALL_ANSWER`].
//! An answer's size is known only once it is made, so a larger one is then refused
//! ([`HeldBytes::refuses`]) and its client waits for room like the holders from then on,
//! getting it first since it holds nothing. So lookups keep being answered while slow
//! readers hold the memory.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::worker_pool::Client;

/// Bytes of answers held in memory until taken by their connections above which a
/// client's next request waits or is refused (None: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerMemory {
    /// One named client's answers.
    pub client: Option<usize>,
    /// All clients' answers together.
    pub total: Option<usize>,
    /// Bytes per second at which a connection must take a held HTTP answer (after
    /// [`ANSWER_GRACE`]); None: as slowly as the idle timeout lets it.
    pub min_rate: Option<usize>,
    /// Time on top of the answer's size at `min_rate` ([`ANSWER_GRACE`]; set apart from
    /// it only by tests, which would otherwise wait it out).
    pub grace: Duration,
    /// How long a client closed late waits ([`LATE_ANSWER_COOLDOWN`]; likewise).
    pub cooldown: Duration,
}

/// Bytes of unwritten answers one client may hold before its next slow request waits, by
/// default: two answers of the default `max_response_size` (32 MiB), so a wallet backend
/// reading its large answers at any ordinary speed never meets it, while one address that
/// asks for large answers and does not read them holds at most this much plus what its
/// running jobs produce.
pub const DEFAULT_CLIENT_ANSWER_MEMORY: usize = 64 * 1024 * 1024;

/// Bytes of unwritten answers all clients together may hold before every slow request
/// waits, by default: four clients at their own bound. With the default pool (four
/// workers and a light-lane thread, answers of at most 32 MiB) the answers in memory stay
/// under 256 + 5 × 32 = 416 MiB however many connections read slowly, where without it
/// 1,024 connections (`connections_max`) could hold 32 GiB.
pub const DEFAULT_ANSWER_MEMORY: usize = 256 * 1024 * 1024;

/// The rate, by default, at which a connection must take a held answer: 512 KiB/s
/// (4 Mbit/s), so a 13 MB `receivable` listing has 35 s (with the grace). A client on any
/// link an RPC client is run over reads faster; one that does not is closed, and to keep
/// the 256 MiB total full an attacker must read about 20 such answers at once at this
/// rate (10 MiB/s), where without the rule one byte every few minutes per connection did.
pub const DEFAULT_ANSWER_MIN_RATE: usize = 512 * 1024;

/// Time a connection has to take a held answer on top of its size at the minimum rate:
/// a small answer is not held to milliseconds, and a client busy with the previous
/// answer, or a network with a slow start, is not closed for it.
pub const ANSWER_GRACE: Duration = Duration::from_secs(10);

/// How long a client one of whose connections was closed for not taking its answer in
/// time has its slow requests wait: longer than the deadline of the largest default
/// answer (10 s + 32 MiB at 512 KiB/s = 74 s) would keep a legitimate slow reader out
/// for long; shorter than the hold it punishes would let an attacker with a handful of
/// addresses keep the total full by taking turns. A minute makes one that never reads
/// hold the memory about a third of the time with the same addresses.
pub const LATE_ANSWER_COOLDOWN: Duration = Duration::from_secs(60);

/// While a request waits for the total answer memory, how often the held answer that has
/// fallen behind the minimum rate is looked for: answers pass their grace, and fall
/// behind, without anything signalling it; a second is short beside the grace (10 s).
pub const PACE_CHECK: Duration = Duration::from_secs(1);

/// The largest answer handed over while everyone holds the total, to a client holding no
/// answers: every lookup's answer (`account_info`, balances, `block_info`, a short
/// history) fits, and the connection cap (1,024 per listener by default) of them is
/// 64 MiB on top of the total.
pub const SMALL_ANSWER: usize = 64 * 1024;

/// Clients remembered as waiting for room (their large answer was refused while everyone
/// held the total): one per address, forgotten when one of its requests runs or any
/// answer is made under the total, so past the connection caps only when many addresses
/// take turns within one stretch of full memory; past the bound a further one is not
/// remembered, and its large answers are refused each time instead.
pub const WANTING_ROOM_MAX: usize = 4096;

/// Clients remembered as cooling off at most: an entry per client closed within the last
/// [`LATE_ANSWER_COOLDOWN`], at most one per connection the servers accepted, so with
/// the connection caps (1,024 per listener by default) this is never reached by
/// connections open at once; expired entries are dropped first, and past the bound a
/// further client is not remembered (it is still closed at its deadline).
pub const COOLING_CLIENTS_MAX: usize = 4096;

/// An answer's hold that learns its connection was closed for not taking it in time.
pub trait ClosedLate {
    /// Called once, before the hold is dropped.
    fn closed_late(&mut self);

    /// Called as the connection takes `bytes` more of the answer.
    fn took(&mut self, _bytes: usize) {}
}

/// One held answer watched for its pace: it may be closed before its deadline when
/// others wait for the memory ([`HeldBytes::close_furthest_behind`]).
#[derive(Debug)]
struct Watched {
    client: Client,
    bytes: usize,
    since: Instant,
    taken: Arc<AtomicUsize>,
    closer: Option<nano_http::Closer>,
}

impl AnswerMemory {
    /// No limits.
    pub const NONE: AnswerMemory = AnswerMemory {
        client: None,
        total: None,
        min_rate: None,
        grace: ANSWER_GRACE,
        cooldown: LATE_ANSWER_COOLDOWN,
    };

    /// [`DEFAULT_CLIENT_ANSWER_MEMORY`], [`DEFAULT_ANSWER_MEMORY`] and
    /// [`DEFAULT_ANSWER_MIN_RATE`].
    pub const DEFAULT: AnswerMemory = AnswerMemory {
        client: Some(DEFAULT_CLIENT_ANSWER_MEMORY),
        total: Some(DEFAULT_ANSWER_MEMORY),
        min_rate: Some(DEFAULT_ANSWER_MIN_RATE),
        grace: ANSWER_GRACE,
        cooldown: LATE_ANSWER_COOLDOWN,
    };

    /// The time a connection has to take a held answer of `bytes`: the grace plus
    /// `bytes` at [`AnswerMemory::min_rate`]; None without a minimum rate.
    pub fn take_within(&self, bytes: usize) -> Option<Duration> {
        let rate = self.min_rate?.max(1);
        Some(self.grace + Duration::from_secs_f64(bytes as f64 / rate as f64))
    }

    /// Arms `deadline` (the server's, for the connection the answer goes to) for an
    /// answer of `bytes`; the guard disarms it when the answer has been taken.
    pub fn arm(
        &self,
        deadline: Option<&nano_http::AnswerDeadline>,
        bytes: usize,
    ) -> Option<nano_http::ArmedDeadline> {
        let within = self.take_within(bytes)?;
        Some(deadline?.arm(tokio::time::Instant::now() + within))
    }
}

/// Bytes held per client and in all, the clients cooling off and those waiting for room.
/// The byte map holds only clients with bytes held: at most one answer per open
/// connection, so it is bounded by the connection cap; the cooling map by
/// [`COOLING_CLIENTS_MAX`], the waiting set by [`WANTING_ROOM_MAX`].
#[derive(Debug, Default)]
pub struct HeldBytes {
    per_client: HashMap<Client, usize>,
    total: usize,
    cooling: HashMap<Client, Instant>,
    /// The answers held, by id (one per held answer, so bounded like `per_client`).
    watched: HashMap<u64, Watched>,
    next_id: u64,
    /// The answer asked to close and not yet given back: one at a time.
    closing: Option<u64>,
    /// Clients whose large answer was refused while everyone held the total, until one of
    /// their requests runs again.
    wanting_room: HashSet<Client>,
}

impl HeldBytes {
    /// Whether a request of `c` may run under `limits` at `now`: a named client under its
    /// own limit and not cooling off (the unnamed in-process caller has no connection to
    /// read slowly on), and not waiting for room ([`Self::waits_for_room`]).
    pub fn allows(&self, limits: &AnswerMemory, c: &Client, now: Instant) -> bool {
        !self.waits_for_room(limits, c) && self.allows_own(limits, c, now)
    }

    /// Whether `c`'s requests wait for room: everyone holds the total, and `c` holds
    /// answers itself, or had a large one refused ([`Self::refuses`]), or is the unnamed
    /// in-process caller (held to the total alone).
    pub fn waits_for_room(&self, limits: &AnswerMemory, c: &Client) -> bool {
        self.total_full(limits)
            && (*c == Client::Unnamed || self.of(c) > 0 || self.wanting_room.contains(c))
    }

    /// Whether an answer of `bytes` to `c`, just made, is refused instead of handed over:
    /// larger than [`SMALL_ANSWER`] while everyone holds the total, to a named client (the
    /// unnamed caller's requests start only under the total). `c` then waits for room.
    pub fn refuses(&mut self, limits: &AnswerMemory, c: Client, bytes: usize) -> bool {
        if !self.total_full(limits) {
            // An answer made under the total: whoever waited for room has it, and a
            // client refused earlier that never came back is not kept until the bound.
            if !self.wanting_room.is_empty() {
                self.wanting_room.clear();
            }
            return false;
        }
        if c == Client::Unnamed || bytes <= SMALL_ANSWER {
            return false;
        }
        if self.wanting_room.len() < WANTING_ROOM_MAX {
            self.wanting_room.insert(c);
        }
        true
    }

    /// A request of `c` runs: it no longer waits for room.
    pub fn started(&mut self, c: &Client) {
        self.wanting_room.remove(c);
    }

    /// Whether all clients together hold the total.
    pub fn total_full(&self, limits: &AnswerMemory) -> bool {
        limits.total.is_some_and(|max| self.total >= max)
    }

    /// Whether `c` is under its own limit and not cooling off.
    pub fn allows_own(&self, limits: &AnswerMemory, c: &Client, now: Instant) -> bool {
        *c == Client::Unnamed
            || (limits.client.is_none_or(|max| self.of(c) < max)
                && self.cooling_for(c, now).is_none())
    }

    /// Registers an answer of `bytes` to `c` handed over at `since`; its id and the count
    /// of its bytes taken, for [`Self::close_furthest_behind`].
    pub fn watch(&mut self, c: Client, bytes: usize, since: Instant) -> (u64, Arc<AtomicUsize>) {
        self.next_id += 1;
        let taken = Arc::new(AtomicUsize::new(0));
        let w = Watched {
            client: c,
            bytes,
            since,
            taken: taken.clone(),
            closer: None,
        };
        self.watched.insert(self.next_id, w);
        (self.next_id, taken)
    }

    /// Gives the answer `id` the handle that closes its connection.
    pub fn set_closer(&mut self, id: u64, closer: nano_http::Closer) {
        if let Some(w) = self.watched.get_mut(&id) {
            w.closer = Some(closer);
        }
    }

    /// Forgets the answer `id` (taken, or its connection gone).
    pub fn unwatch(&mut self, id: u64) {
        self.watched.remove(&id);
        if self.closing == Some(id) {
            self.closing = None;
        }
    }

    /// Closes the connection of the held answer furthest behind [`AnswerMemory::min_rate`]
    /// (past its grace, fewer bytes taken than the rate asks), unless one asked before is
    /// still being closed: called while others wait for the total, so they need not wait
    /// for its deadline. Returns whether one was asked to close.
    pub fn close_furthest_behind(&mut self, limits: &AnswerMemory, now: Instant) -> bool {
        let Some(rate) = limits.min_rate else {
            return false;
        };
        if self.closing.is_some() {
            return false;
        }
        let deficit = |w: &Watched| {
            let reading = now
                .checked_duration_since(w.since)?
                .checked_sub(limits.grace)?;
            let due = (reading.as_secs_f64() * rate as f64).min(w.bytes as f64);
            let behind = due - w.taken.load(Ordering::Relaxed) as f64;
            (behind > 0.0).then_some(behind)
        };
        let furthest = self
            .watched
            .iter()
            .filter(|(_, w)| w.client != Client::Unnamed && w.closer.is_some())
            .filter_map(|(id, w)| Some((*id, deficit(w)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((id, _)) = furthest else {
            return false;
        };
        if let Some(c) = self.watched.get(&id).and_then(|w| w.closer.as_ref()) {
            c.close_now();
        }
        self.closing = Some(id);
        true
    }

    /// Makes `c` wait until `until` ([`LATE_ANSWER_COOLDOWN`] after a connection of its
    /// was closed late).
    pub fn cool_off(&mut self, c: Client, until: Instant) {
        if c == Client::Unnamed {
            return;
        }
        if self.cooling.len() >= COOLING_CLIENTS_MAX && !self.cooling.contains_key(&c) {
            let now = Instant::now();
            self.cooling.retain(|_, t| *t > now);
            if self.cooling.len() >= COOLING_CLIENTS_MAX {
                return;
            }
        }
        let t = self.cooling.entry(c).or_insert(until);
        *t = (*t).max(until);
    }

    /// How long `c` still cools off at `now` (None: it does not).
    pub fn cooling_for(&self, c: &Client, now: Instant) -> Option<Duration> {
        let until = *self.cooling.get(c)?;
        (until > now).then(|| until - now)
    }

    /// Gives back the held answer `id` of `bytes` to `c` (taken, or its connection gone);
    /// `cooldown` if its connection was closed for not taking it in time.
    pub fn give_back(&mut self, id: u64, c: &Client, bytes: usize, cooldown: Option<Duration>) {
        self.unwatch(id);
        self.release(c, bytes);
        if let Some(d) = cooldown {
            self.cool_off(*c, Instant::now() + d);
        }
    }

    /// Counts `bytes` of an answer to `c` as held.
    pub fn hold(&mut self, c: Client, bytes: usize) {
        *self.per_client.entry(c).or_insert(0) += bytes;
        self.total += bytes;
    }

    /// Gives back `bytes` of `c`'s; a client holding none is forgotten.
    pub fn release(&mut self, c: &Client, bytes: usize) {
        self.total = self.total.saturating_sub(bytes);
        if let Some(h) = self.per_client.get_mut(c) {
            *h = h.saturating_sub(bytes);
            if *h == 0 {
                self.per_client.remove(c);
            }
        }
    }

    /// Bytes held for `c`.
    pub fn of(&self, c: &Client) -> usize {
        self.per_client.get(c).copied().unwrap_or(0)
    }

    /// Bytes held for all clients.
    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_answer_is_refused_while_the_total_is_held_and_its_client_then_waits_for_room() {
        let limits = AnswerMemory {
            total: Some(100),
            ..AnswerMemory::NONE
        };
        let [a, b] = [1, 2].map(|i| Client::from_ip(std::net::IpAddr::from([10, 0, 0, i])));
        let mut h = HeldBytes::default();
        let now = Instant::now();
        h.hold(a, 100);
        assert!(h.allows(&limits, &b, now));
        assert!(!h.refuses(&limits, b, SMALL_ANSWER));
        assert!(h.refuses(&limits, b, SMALL_ANSWER + 1));
        assert!(!h.allows(&limits, &b, now) && h.waits_for_room(&limits, &b));
        // Room: it goes, and any answer is handed over.
        h.release(&a, 100);
        assert!(h.allows(&limits, &b, now) && !h.refuses(&limits, b, 1 << 20));
        // Once a request of it ran, it is forgotten.
        h.started(&b);
        h.hold(a, 100);
        assert!(h.allows(&limits, &b, now));
        // And once any answer is made under the total.
        assert!(h.refuses(&limits, b, SMALL_ANSWER + 1));
        h.release(&a, 100);
        assert!(!h.refuses(&limits, a, 10));
        h.hold(a, 100);
        assert!(h.allows(&limits, &b, now));
    }

    #[test]
    fn a_client_is_held_at_its_own_limit_and_everyone_at_the_total() {
        let limits = AnswerMemory {
            client: Some(100),
            total: Some(250),
            ..AnswerMemory::NONE
        };
        let [a, b] = [1, 2].map(|i| Client::from_ip(std::net::IpAddr::from([10, 0, 0, i])));
        let mut h = HeldBytes::default();
        let now = Instant::now();
        h.hold(a, 99);
        assert!(h.allows(&limits, &a, now));
        h.hold(a, 1);
        assert!(!h.allows(&limits, &a, now) && h.allows(&limits, &b, now));
        h.hold(b, 150);
        assert_eq!((h.total(), h.of(&b)), (250, 150));
        assert!(!h.allows(&limits, &b, now) && !h.allows(&limits, &Client::Unnamed, now));
        h.release(&b, 150);
        assert!(h.allows(&limits, &b, now) && h.allows(&limits, &Client::Unnamed, now));
        // The unnamed caller is held to the total only.
        h.hold(Client::Unnamed, 500);
        assert!(!h.allows(&limits, &Client::Unnamed, now));
        // While the total is held, a client holding nothing still goes; one holding
        // answers, though under its own limit, waits for room.
        assert!(h.allows(&limits, &b, now));
        h.hold(b, 1);
        assert!(!h.allows(&limits, &b, now) && h.waits_for_room(&limits, &b));
        h.release(&b, 1);
        h.release(&Client::Unnamed, 500);
        h.release(&a, 100);
        assert_eq!((h.total(), h.per_client.len()), (0, 0));
        assert!(h.allows(&AnswerMemory::NONE, &a, now));
    }

    #[test]
    fn a_held_answer_has_the_grace_plus_its_size_at_the_minimum_rate() {
        let m = AnswerMemory::DEFAULT;
        assert_eq!(m.take_within(0), Some(ANSWER_GRACE));
        let thirteen_mb = 13 * 1024 * 1024;
        assert_eq!(
            m.take_within(thirteen_mb),
            Some(ANSWER_GRACE + Duration::from_secs(26))
        );
        assert_eq!(AnswerMemory::NONE.take_within(thirteen_mb), None);
    }

    #[test]
    fn a_client_closed_late_waits_out_its_cooldown_and_others_do_not() {
        let [a, b] = [1, 2].map(|i| Client::from_ip(std::net::IpAddr::from([10, 0, 0, i])));
        let limits = AnswerMemory::DEFAULT;
        let mut h = HeldBytes::default();
        let now = Instant::now();
        h.cool_off(a, now + Duration::from_secs(60));
        // A shorter cooldown later does not shorten it.
        h.cool_off(a, now + Duration::from_secs(1));
        assert_eq!(h.cooling_for(&a, now), Some(Duration::from_secs(60)));
        assert!(!h.allows(&limits, &a, now));
        assert!(h.allows(&limits, &b, now));
        assert!(h.allows(&limits, &a, now + Duration::from_secs(60)));
        // The in-process caller never cools off.
        h.cool_off(Client::Unnamed, now + Duration::from_secs(60));
        assert!(h.allows(&limits, &Client::Unnamed, now));
    }

    #[test]
    fn the_cooling_clients_are_bounded_and_expired_ones_make_room() {
        let mut h = HeldBytes::default();
        let now = Instant::now();
        let client =
            |i: usize| Client::from_ip(std::net::IpAddr::from((i as u32 + 1).to_be_bytes()));
        for i in 0..COOLING_CLIENTS_MAX {
            h.cool_off(client(i), now + Duration::from_secs(60));
        }
        // Full of live entries: a further client is not remembered.
        let extra = client(COOLING_CLIENTS_MAX);
        h.cool_off(extra, now + Duration::from_secs(60));
        assert_eq!(h.cooling_for(&extra, now), None);
        assert_eq!(h.cooling.len(), COOLING_CLIENTS_MAX);
        // Once entries have expired, they make room.
        let mut h2 = HeldBytes::default();
        for i in 0..COOLING_CLIENTS_MAX {
            h2.cool_off(client(i), now);
        }
        h2.cool_off(extra, Instant::now() + Duration::from_secs(60));
        assert_eq!(h2.cooling.len(), 1);
        assert!(h2.cooling_for(&extra, Instant::now()).is_some());
    }

    #[test]
    fn the_answer_furthest_behind_the_rate_past_its_grace_is_closed_one_at_a_time() {
        let limits = AnswerMemory {
            min_rate: Some(1000),
            grace: Duration::from_secs(10),
            ..AnswerMemory::DEFAULT
        };
        let [a, b, c] = [1, 2, 3].map(|i| Client::from_ip(std::net::IpAddr::from([10, 0, 0, i])));
        let mut h = HeldBytes::default();
        let t0 = Instant::now();
        let deadline = |h: &mut HeldBytes, id: u64| {
            let d = nano_http::AnswerDeadline::unwatched();
            let armed = d.arm(tokio::time::Instant::now() + Duration::from_secs(3600));
            h.set_closer(id, armed.closer());
            armed
        };
        // a: 100 kB, nothing taken; b: 100 kB, all the rate asks taken; c: just handed over.
        let (ia, _) = h.watch(a, 100_000, t0);
        let (ib, tb) = h.watch(b, 100_000, t0);
        let (ic, _) = h.watch(c, 100_000, t0 + Duration::from_secs(19));
        let (da, db, dc) = (
            deadline(&mut h, ia),
            deadline(&mut h, ib),
            deadline(&mut h, ic),
        );
        tb.store(10_000, Ordering::Relaxed);
        // Within the grace: nobody is behind.
        assert!(!h.close_furthest_behind(&limits, t0 + Duration::from_secs(9)));
        // 20 s in, 10 s past the grace: 10 kB due; a is behind, b is not, c is in its grace.
        let now = t0 + Duration::from_secs(20);
        assert!(h.close_furthest_behind(&limits, now));
        assert!(da.passed() && !db.passed() && !dc.passed());
        // One at a time: nothing more until a's is given back.
        tb.store(0, Ordering::Relaxed);
        assert!(!h.close_furthest_behind(&limits, now));
        h.unwatch(ia);
        assert!(h.close_furthest_behind(&limits, now));
        assert!(db.passed() && !dc.passed());
        // Without a minimum rate nothing is closed early.
        h.unwatch(ib);
        let no_rate = AnswerMemory {
            min_rate: None,
            ..AnswerMemory::DEFAULT
        };
        assert!(!h.close_furthest_behind(&no_rate, t0 + Duration::from_secs(99)));
    }
}
