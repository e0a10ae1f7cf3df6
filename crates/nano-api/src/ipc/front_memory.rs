//! `nano_rpc`'s answer memory: the bytes of answers (v1 and v2) its HTTP connections have
//! not yet taken ([`crate::answer_memory`]), and the admission of each request against
//! them.
//!
//! The node's slow-action pool counts an answer only until it has written it to
//! `nano_rpc`, so here is where a client that does not read holds memory. A client at its
//! own limit, or cooling off, is refused at once (the pool's busy text).
//!
//! An answer's size is known only once the node has sent it, so the front cannot wait
//! for room before asking the node, as the pool waits before running a job. Instead:
//! - the requests let through and not yet answered are bounded (by the IPC connections,
//!   which carry one each anyway), where 256 requests arriving together under the total
//!   would each bring a 13 MB answer;
//! - while everyone together holds the total, a client that holds answers itself waits in
//!   line (at most [`FRONT_MEMORY_WAIT`]), and the answer furthest behind the minimum rate
//!   is closed meanwhile, as the pool does for its waiting jobs; a client that holds
//!   nothing (one that reads its answers) is let through, and its answer handed over if
//!   it is at most [`SMALL_ANSWER`](crate::answer_memory::SMALL_ANSWER), refused with the busy text if larger. A client refused
//!   that way then waits in line for room like one holding answers (else it would keep
//!   the IPC connections busy with scans whose answers are thrown away), and, holding
//!   nothing, gets the room first. So lookups keep being answered while slow readers hold
//!   the memory, and a large answer waits for the room that closing the readers that fall
//!   behind makes.
//!
//! The line is let through the client holding the fewest bytes first: in arrival order the
//! places would go to whoever asks most often, that is, to the clients that do not read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::answer_memory::{AnswerMemory, ClosedLate, HeldBytes, PACE_CHECK};
use crate::worker_pool::Client;

/// How long a request waits in line before it is refused: long enough for a held answer
/// that is not being read to pass its grace (10 s) and fall behind the minimum rate by
/// more than the sockets took of it, so a wait for the total ends with a close rather than
/// a refusal; each waiting request keeps a connection, and the server's connection cap
/// bounds them.
pub const FRONT_MEMORY_WAIT: Duration = Duration::from_secs(30);

/// The answer memory of one `nano_rpc` front, shared by its handlers.
pub struct FrontMemory {
    limits: AnswerMemory,
    /// Requests let through and not yet answered, at most.
    in_flight_max: usize,
    state: Mutex<FrontState>,
    /// Signalled when held bytes are given back or the line moves.
    moved: Notify,
}

#[derive(Default)]
struct FrontState {
    held: HeldBytes,
    /// The requests waiting, by ticket (arrival order), with their client: one per waiting
    /// request, so bounded by the server's connection cap.
    line: BTreeMap<u64, Client>,
    next_ticket: u64,
    /// Requests let through whose answers are not counted yet.
    in_flight: usize,
}

impl FrontState {
    /// Whether the request holding `ticket` (None: not in line) for `c` is next: no other
    /// waiter that could go now (one waiting for room cannot) is of a client holding fewer
    /// bytes, or as many and came earlier.
    fn is_next(&self, limits: &AnswerMemory, ticket: Option<u64>, c: &Client) -> bool {
        let mine = (self.held.of(c), ticket.unwrap_or(u64::MAX));
        self.line
            .iter()
            .filter(|(t, other)| Some(**t) != ticket && !self.held.waits_for_room(limits, other))
            .all(|(t, other)| (self.held.of(other), *t) > mine)
    }
}

/// A request let through: its answer is counted with [`Admitted::hold`]; dropped without
/// it (the node did not answer), it gives its place among those in flight back.
pub struct Admitted {
    memory: Arc<FrontMemory>,
    client: Client,
}

/// A place in line, given up when the request is let through, refused or dropped (its
/// client went away).
struct InLine<'a> {
    memory: &'a FrontMemory,
    ticket: Option<u64>,
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket {
            self.memory.lock().line.remove(&t);
            self.memory.moved.notify_waiters();
        }
    }
}

impl FrontMemory {
    /// `in_flight_max`: the front's IPC connections (each carries one request at a time,
    /// so more in flight would only wait for one).
    pub fn new(limits: AnswerMemory, in_flight_max: usize) -> Arc<FrontMemory> {
        Arc::new(FrontMemory {
            limits,
            in_flight_max: in_flight_max.max(1),
            state: Mutex::new(FrontState::default()),
            moved: Notify::new(),
        })
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &AnswerMemory {
        &self.limits
    }

    /// A poisoned lock only means a handler panicked while counting; the counts are still
    /// whole numbers, so they are used as they are.
    fn lock(&self) -> MutexGuard<'_, FrontState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a request of `c` through, after waiting in line while the requests in
    /// flight are at their bound, or everyone holds the total and so does `c`; None
    /// (refuse it) when `c` holds its own limit or cools off, or the wait passed
    /// [`FRONT_MEMORY_WAIT`].
    pub async fn admit(self: &Arc<Self>, c: Client) -> Option<Admitted> {
        let until = tokio::time::Instant::now() + FRONT_MEMORY_WAIT;
        let mut place = InLine {
            memory: self,
            ticket: None,
        };
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            let left = {
                let mut st = self.lock();
                let now = std::time::Instant::now();
                if !st.held.allows_own(&self.limits, &c, now) {
                    return None;
                }
                let full = st.held.total_full(&self.limits);
                let room =
                    st.in_flight < self.in_flight_max && !st.held.waits_for_room(&self.limits, &c);
                if room && st.is_next(&self.limits, place.ticket, &c) {
                    st.in_flight += 1;
                    st.held.started(&c);
                    drop(st);
                    drop(place);
                    return Some(Admitted {
                        memory: self.clone(),
                        client: c,
                    });
                }
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return None;
                }
                if place.ticket.is_none() {
                    st.next_ticket += 1;
                    let t = st.next_ticket;
                    st.line.insert(t, c);
                    place.ticket = Some(t);
                }
                if full {
                    // Nothing signals an answer falling behind the rate: look again each
                    // PACE_CHECK while someone waits for the total.
                    let limits = self.limits;
                    st.held.close_furthest_behind(&limits, now);
                }
                left
            };
            let _ = tokio::time::timeout(left.min(PACE_CHECK), moved).await;
        }
    }

    /// Bytes held for `c` and in all.
    pub fn held_bytes(&self, c: &Client) -> (usize, usize) {
        let st = self.lock();
        (st.held.of(c), st.held.total())
    }

    /// Requests waiting in line.
    pub fn waiting(&self) -> usize {
        self.lock().line.len()
    }
}

impl Admitted {
    /// Counts the answer of `bytes` as held until the returned hold is dropped (with the
    /// body that hands it to the connection); None (refuse it) if it is larger than
    /// [`SMALL_ANSWER`](crate::answer_memory::SMALL_ANSWER) and everyone holds the total: the client then waits for room.
    pub fn hold(self, bytes: usize) -> Option<Held> {
        let (id, taken) = {
            let mut st = self.memory.lock();
            let limits = self.memory.limits;
            if st.held.refuses(&limits, self.client, bytes) {
                return None;
            }
            st.held.hold(self.client, bytes);
            st.held.watch(self.client, bytes, std::time::Instant::now())
        };
        Some(Held {
            memory: self.memory.clone(),
            client: self.client,
            bytes,
            late: false,
            id,
            taken,
        })
        // `self` drops here and gives its place in flight back, now that the answer counts.
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.memory.lock().in_flight -= 1;
        self.memory.moved.notify_waiters();
    }
}

/// One answer's bytes in the front's memory, given back when dropped (with its
/// body); a client whose connection was closed for not taking it in time cools off.
pub struct Held {
    memory: Arc<FrontMemory>,
    client: Client,
    bytes: usize,
    late: bool,
    id: u64,
    taken: Arc<AtomicUsize>,
}

impl Held {
    /// Lets the line close this answer's connection early when it waits for the memory
    /// and the answer is behind the minimum rate.
    pub fn set_closer(&self, closer: nano_http::Closer) {
        self.memory.lock().held.set_closer(self.id, closer);
    }
}

impl ClosedLate for Held {
    fn closed_late(&mut self) {
        self.late = true;
    }

    fn took(&mut self, bytes: usize) {
        self.taken.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        {
            let cooldown = self.late.then_some(self.memory.limits.cooldown);
            let mut st = self.memory.lock();
            st.held
                .give_back(self.id, &self.client, self.bytes, cooldown);
        }
        self.memory.moved.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer_memory::SMALL_ANSWER;

    fn client(i: u8) -> Client {
        Client::from_ip(std::net::IpAddr::from([10, 0, 0, i]))
    }

    fn limits() -> AnswerMemory {
        AnswerMemory {
            client: Some(1_000_000),
            total: Some(100),
            ..AnswerMemory::NONE
        }
    }

    /// Lets spawned admissions run until they wait.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// `m.admit(c)` on a task of its own, holding an answer of `bytes` once let through.
    fn spawn_admit(
        m: &Arc<FrontMemory>,
        c: Client,
        bytes: usize,
    ) -> tokio::task::JoinHandle<Option<Held>> {
        let m = m.clone();
        tokio::spawn(async move { m.admit(c).await?.hold(bytes) })
    }

    #[tokio::test(start_paused = true)]
    async fn under_the_total_a_request_is_let_through_at_once_and_counted() {
        let m = FrontMemory::new(limits(), 4);
        let held = m.admit(client(1)).await.unwrap().hold(60).unwrap();
        assert_eq!(m.held_bytes(&client(1)), (60, 60));
        drop(held);
        assert_eq!(m.held_bytes(&client(1)), (0, 0));
        assert_eq!(m.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_at_its_own_limit_is_refused_at_once() {
        let m = FrontMemory::new(
            AnswerMemory {
                client: Some(50),
                total: None,
                ..AnswerMemory::NONE
            },
            4,
        );
        let _held = m.admit(client(1)).await.unwrap().hold(50);
        let started = tokio::time::Instant::now();
        assert!(m.admit(client(1)).await.is_none());
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(m.admit(client(2)).await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_total_is_held_a_client_holding_nothing_gets_small_answers_only() {
        let m = FrontMemory::new(limits(), 4);
        let _reader = m.admit(client(1)).await.unwrap().hold(100).unwrap();
        // The reader itself waits; another client is let through at once.
        let again = spawn_admit(&m, client(1), 1);
        settle().await;
        assert_eq!(m.waiting(), 1);
        let other = m.admit(client(2)).await.expect("let through");
        assert!(
            other.hold(SMALL_ANSWER + 1).is_none(),
            "a large answer is refused"
        );
        let small = m.admit(client(3)).await.unwrap().hold(SMALL_ANSWER);
        assert!(small.is_some(), "a small one is handed over");
        assert_eq!(m.held_bytes(&client(3)), (SMALL_ANSWER, 100 + SMALL_ANSWER));
        assert!(!again.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_refused_a_large_answer_waits_for_room_without_holding_up_others() {
        let m = FrontMemory::new(limits(), 4);
        let reader = m.admit(client(1)).await.unwrap().hold(100).unwrap();
        assert!(m
            .admit(client(2))
            .await
            .unwrap()
            .hold(SMALL_ANSWER + 1)
            .is_none());
        // It asks again: it waits for room, and a third client is not held up behind it.
        let again = spawn_admit(&m, client(2), 7);
        settle().await;
        assert_eq!(m.waiting(), 1);
        let third = m.admit(client(3)).await.expect("let through");
        let _third = third.hold(10).expect("a small answer");
        assert!(!again.is_finished());
        // Room: it goes (ahead of the reader, whose own next request still waits).
        let reader_again = spawn_admit(&m, client(1), 1);
        settle().await;
        drop(reader);
        let _room = again
            .await
            .unwrap()
            .expect("let through once there is room");
        let _next = reader_again.await.unwrap().expect("then the reader");
        assert_eq!(m.held_bytes(&client(2)), (7, 18));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_let_through_and_not_answered_are_bounded_whatever_the_memory() {
        let m = FrontMemory::new(AnswerMemory::NONE, 2);
        let a = m.admit(client(1)).await.unwrap();
        let _b = m.admit(client(2)).await.unwrap();
        let third = spawn_admit(&m, client(3), 5);
        settle().await;
        assert_eq!(m.waiting(), 1);
        // The first answer is counted (or its request failed): the third goes.
        let _held = a.hold(5);
        assert!(third.await.unwrap().is_some());
        assert_eq!(m.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_line_goes_the_client_holding_least_first() {
        // One request in flight at a time, so the order shows.
        let m = FrontMemory::new(AnswerMemory::NONE, 1);
        let _earlier = m.admit(client(1)).await.unwrap().hold(50);
        let out = m.admit(client(3)).await.unwrap();
        // A client holding an answer asks, then one holding none: both wait.
        let holder = spawn_admit(&m, client(1), 1);
        settle().await;
        let other = tokio::spawn({
            let m = m.clone();
            async move { m.admit(client(2)).await }
        });
        settle().await;
        assert_eq!(m.waiting(), 2);

        // The place in flight comes back: the client holding none goes first though it
        // came second, and alone, since its request then takes the place until it counts.
        drop(out);
        settle().await;
        assert!(other.is_finished() && !holder.is_finished());
        let _held = other.await.unwrap().expect("let through").hold(10);
        let _also = holder.await.unwrap().expect("then the holder");
        assert_eq!(m.held_bytes(&client(2)), (10, 61));
        assert!(m.admit(client(4)).await.is_some(), "then a newcomer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_is_refused_when_its_wait_is_over_and_leaves_the_line() {
        let m = FrontMemory::new(limits(), 4);
        let _reader = m.admit(client(1)).await.unwrap().hold(100);
        let started = tokio::time::Instant::now();
        assert!(m.admit(client(1)).await.is_none());
        assert!(started.elapsed() >= FRONT_MEMORY_WAIT);
        assert_eq!(m.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_while_waiting_leaves_the_line() {
        let m = FrontMemory::new(limits(), 4);
        let reader = m.admit(client(1)).await.unwrap().hold(100);
        let waiter = spawn_admit(&m, client(1), 1);
        settle().await;
        assert_eq!(m.waiting(), 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(m.waiting(), 0);
        drop(reader);
        assert!(m.admit(client(1)).await.is_some(), "nobody left in line");
    }
}
