//! Bounded pools of worker threads: a fixed set of OS threads fed by bounded per-client
//! queues served in round robin, started on first use, that refuse a job at once when
//! full. The context holds two: the pool that runs slow actions
//! ([`crate::actions::Action::slow`]: ledger and wallet scans, key derivation, work,
//! waiting for the block processor) for every front door that dispatches RPC v1 actions
//! (HTTP and IPC), and the wallet work precomputation queue
//! ([`crate::context::PRECOMPUTE_QUEUE`]).
//!
//! In the daemon the API servers and the node's peering share one Tokio runtime. A
//! `receivable` over 200,000 blocks or a `ledger` walk on that runtime's workers (or on
//! its blocking pool, which grows to 512 threads with an unbounded queue) competes with
//! keepalives and votes; here it competes only with other slow actions. When every worker
//! is busy and the queue is full, the request is answered with [`BUSY`], the first at
//! once and a client's further refusals paced ([`crate::refusal_pace`]): a flood of slow
//! calls costs the attacker a refusal, not the node memory, a hang or a busy loop of
//! refusals.
//!
//! Waiting jobs are queued per [`Client`] (the node's one [`FairQueue`]), each client's
//! queue with its own bound, and a free worker takes the job of the client that has the
//! fewest jobs running and, among those, used the least worker time lately (decaying
//! with [`USAGE_HALF_LIFE`]). Shares are of worker *time*, not of calls: a client flooding
//! expensive scans, from one address or from many, is served after a client whose calls
//! are cheap, which then waits only for one running call to end, not for the flood; a
//! flooding client fills only its own queue, then is refused. When the shared queue is
//! full (many flooding clients), a newcomer from a client with few jobs waiting takes the
//! place of the newest job of the client with the most waiting, which is answered as
//! refused ([`BUSY`]) instead of the newcomer: the clients with the most queued pay for
//! the full queue, not whoever comes next.
//!
//! One named client may have at most half the workers running its jobs
//! ([`default_client_threads`], `slow_action_client_threads`), even when the others are
//! idle: a flood from one address leaves the rest of the pool free, so another client's
//! slow call starts at once rather than when one of the flood's scans ends, and the
//! flood's scans take at most that share of the CPU the pool can use.
//!
//! The workers run at a lower CPU priority ([`crate::worker_priority`]) and off the first
//! core ([`nano_http::background_cpus`]), so a flood of scans cannot take the CPU from the
//! threads that answer cheap requests; but a slow
//! request still waits for a worker, and during a flood every worker holds a scan. So
//! the pool also has light-lane threads, at the process's own priority, that take only
//! the jobs of *light* clients: those with nothing running whose finished jobs were all
//! short (at most [`LIGHT_JOB`]) for the last [`HEAVY_FOR`], with at least one of them.
//! A client that calls `account_balance` is served at once however many scans run; a
//! flooding address is kept off the lane by its first scan, and a new address must make
//! a cheap call before it may use the lane once.
//!
//! Clients that are not light are also held to budgets of CPU time
//! ([`crate::cpu_budget`]): each client its own (`slow_action_client_budget`), all of
//! them together the pool's (`slow_action_budget`). A job of a client over either budget
//! waits in its client's queue until the budget refills, so a flood of scans costs the
//! node the configured share of its CPU, not what the machine leaves idle; the queue's
//! bounds then refuse the rest.
//!
//! Every slow action's answer is held in memory until its connection has written it, and a
//! client that asks and then reads slowly (or not at all: the idle timeout counts any byte)
//! keeps it there. The pool counts those bytes per client ([`AnswerMemory`]) and starts no
//! job of a client holding [`AnswerMemory::client`] or more, nor of anyone while all
//! clients together hold [`AnswerMemory::total`] or more: the jobs wait in their queues
//! (then are refused) until answers are written or their connections close. The answers
//! in memory are then bounded by the configuration (the total, plus one answer of at most
//! `max_response_size` per running job), not by how many connections an attacker keeps
//! reading slowly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nano_node::consensus::fair_queue::{FairQueue, Rejected, SourceLimits};

use crate::answer_memory::HeldBytes;
pub use crate::answer_memory::{AnswerMemory, DEFAULT_ANSWER_MEMORY, DEFAULT_CLIENT_ANSWER_MEMORY};
use crate::cpu_budget::Bucket;
use crate::thread_time::Used;

/// The answer when the slow-action pool cannot take another request.
pub const BUSY: &str = "Too many slow requests in progress (slow_action_threads, slow_action_queue or this client's slow_action_client_queue of config-rpc.toml are full; a queue waiting for slow_action_client_budget or slow_action_budget, or for answers not yet read to be taken (slow_action_client_answer_memory, slow_action_answer_memory), fills too); try again later";

/// Slow requests waiting for a worker by default. A slow action takes milliseconds to
/// seconds; with this many queued, a new one would wait tens of seconds behind them on a
/// small machine, and a client is better served by a prompt refusal it can retry.
pub const DEFAULT_QUEUE: usize = 256;

/// Slow requests one client may have waiting by default. A wallet or exchange backend
/// that checks balances concurrently keeps 32 calls in the pipeline before it is refused,
/// while at least eight clients are needed to fill [`DEFAULT_QUEUE`]: one host alone can
/// never lock the others out of the queue.
pub const DEFAULT_CLIENT_QUEUE: usize = 32;

/// How fast a client's recorded worker time fades: a client that used the pool heavily
/// yields to lighter ones for tens of seconds, then counts as new again. Long enough to
/// outlast the gap between one flooder's calls (a scan of seconds, queued behind others),
/// short enough that a wallet's burst of work generations is forgiven within a minute.
pub const USAGE_HALF_LIFE: Duration = Duration::from_secs(10);

/// Clients whose worker time is remembered once they have nothing waiting or running.
/// Beyond it, those whose time has faded below [`FORGOTTEN`] are dropped first; if that
/// is not enough, the finished client's time is not recorded. 4,096 entries of a few
/// dozen bytes, while an attacker needs that many addresses to push others out.
const REMEMBERED_CLIENTS: usize = 4096;

/// The longest job that keeps its client light (served by the light lane): cheap lookups
/// take well under a millisecond (and `account_balance` on an account with few
/// receivables no longer reaches the pool), a scan over tens of thousands of entries or
/// any work generation longer. At 20 ms a flood's 200,000-entry `receivable` scan
/// sometimes qualified on a fast core, which kept its address on the lane and outside
/// the CPU budgets; 5 ms also bounds what a legitimate cheap call waits behind one
/// light-lane job.
pub const LIGHT_JOB: Duration = Duration::from_millis(5);

/// How long a client whose job ran longer than [`LIGHT_JOB`] stays off the light lane.
/// An attacker with many addresses can put one scan per address on the lane per period
/// (after a cheap call from each): a minute keeps that to a small share of one thread
/// for all but very large address pools.
pub const HEAVY_FOR: Duration = Duration::from_secs(60);

/// Light-lane threads by default: one suffices for cheap jobs taken one per client.
pub const DEFAULT_LIGHT_THREADS: usize = 1;

/// Slow-action workers one client may hold at once by default: half of them (rounded
/// up), so while one address floods scans the other half stays free for everyone else's
/// slow calls, which then start at once instead of after one of the flood's scans ends;
/// with one worker, that worker. A wallet backend's concurrent calls still run two or
/// more at a time on the default four workers.
pub fn default_client_threads(threads: usize) -> usize {
    threads.div_ceil(2).max(1)
}

/// The shortest sleep of a thread waiting for a budget to refill: refills are computed
/// to the nanosecond, and a thread woken a hair early must not spin.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Worker time below which a client counts as new.
const FORGOTTEN: Duration = Duration::from_millis(1);

/// Slow-action workers by default: the reference's `background_threads` default (which serves its
/// RPC handling), max(4, cores), so a few long work generations do not block every scan.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(4)
}

/// Who a job is queued for: each client has its own queue in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Client {
    /// A TCP client (HTTP, WebSocket, IPC over TCP): its IPv4 address, or the /64 prefix
    /// of its IPv6 address (one host is routinely given a whole /64, so keying by the
    /// full address would let it open queues without limit).
    Ip(IpAddr),
    /// One Unix-socket IPC connection: local clients have no address to tell them
    /// apart, so each connection counts as its own client.
    Connection(u64),
    /// A caller that names no client (in-process use, tests): they share one queue.
    Unnamed,
}

impl Client {
    /// The client key of a TCP peer address (IPv4-mapped IPv6 counts as IPv4).
    pub fn from_ip(ip: IpAddr) -> Client {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Client::Ip(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Client::Ip(IpAddr::V6(prefix.into()))
            }
        }
    }
}

/// Why a job did not run to an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker busy and the queue full, or the client's own queue full.
    Busy,
    /// The job panicked, or the workers could not be started.
    Failed,
}

/// A queued job: called with `true` to run on a worker, or with `false` when it is
/// evicted from the queue to make room for another client's (it then answers as refused
/// without running).
type Job = Box<dyn FnOnce(bool) + Send>;

/// A job in its client's queue, with when it was queued ([`crate::job_timing`]).
struct Queued {
    job: Job,
    at: Instant,
}

/// What the workers share: the waiting jobs and the signal that one arrived.
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    light_threads: usize,
    /// [`WorkerPool::charged`].
    charged: Arc<AtomicU64>,
    /// [`WorkerPool::light_served`].
    light_served: AtomicU64,
    /// Jobs running now, on any thread ([`crate::job_timing`]).
    running: AtomicUsize,
    /// [`WorkerPool::short_jobs`].
    short_jobs: crate::job_timing::Recorder,
}

impl Shared {
    /// Wakes a thread for a new job. With light-lane threads, one woken for a job it may
    /// not take would go back to sleep while a worker that could take it slept on: wake
    /// them all (a handful of threads).
    fn wake(&self) {
        if self.light_threads > 0 {
            self.ready.notify_all();
        } else {
            self.ready.notify_one();
        }
    }
}

struct State {
    waiting: FairQueue<Client, Queued>,
    /// Jobs one named client may have running at once ([`default_client_threads`]).
    client_threads: usize,
    /// Running jobs and recent worker time of clients (bounded: see
    /// [`REMEMBERED_CLIENTS`]).
    clients: HashMap<Client, Usage>,
    /// Set when the pool is dropped: workers finish what is queued, then exit.
    closed: bool,
    budgets: Budgets,
    /// The budget all clients share ([`Budgets::pool`]).
    pool_bucket: Bucket,
    /// Bytes of answers not yet written, per client and in all.
    held: HeldBytes,
    memory: AnswerMemory,
}

/// A slow action's answer held in memory: its bytes count against its client's and the
/// pool's [`AnswerMemory`] until this is dropped (when the answer has been handed to the
/// socket, or its connection closed).
pub struct HeldAnswer {
    shared: Arc<Shared>,
    client: Client,
    bytes: usize,
    /// Its connection was closed for not taking it in time: the client cools off.
    late: bool,
    /// Its id among the pool's watched answers, and its bytes taken so far.
    id: u64,
    taken: Arc<AtomicUsize>,
}

impl HeldAnswer {
    /// The bytes counted.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lets the pool close this answer's connection early when others wait for the
    /// memory and it is behind the minimum rate.
    pub fn set_closer(&self, closer: nano_http::Closer) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.held.set_closer(self.id, closer);
        }
    }
}

impl crate::answer_memory::ClosedLate for HeldAnswer {
    fn closed_late(&mut self) {
        self.late = true;
    }

    fn took(&mut self, bytes: usize) {
        self.taken.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for HeldAnswer {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            let cooldown = self.late.then_some(st.memory.cooldown);
            st.held
                .give_back(self.id, &self.client, self.bytes, cooldown);
        }
        // A job waiting for the memory may start now.
        self.shared.ready.notify_all();
    }
}

impl std::fmt::Debug for HeldAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldAnswer")
            .field("client", &self.client)
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// CPU time per second the jobs of clients that are not light may use (None: no
/// budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Each named client's own.
    pub client: Option<Duration>,
    /// All named clients' together.
    pub pool: Option<Duration>,
}

impl Budgets {
    /// No budgets: clients use what the other bounds allow.
    pub const NONE: Budgets = Budgets {
        client: None,
        pool: None,
    };

    /// The configuration's defaults: [`crate::cpu_budget::DEFAULT_CLIENT_BUDGET`] and
    /// [`crate::cpu_budget::default_pool_budget`].
    pub fn defaults() -> Budgets {
        Budgets {
            client: Some(crate::cpu_budget::DEFAULT_CLIENT_BUDGET),
            pool: Some(crate::cpu_budget::default_pool_budget()),
        }
    }
}

/// What the pool knows of one client's use of it.
#[derive(Debug, Clone, Copy)]
struct Usage {
    running: usize,
    /// Worker seconds as of `at`, fading with [`USAGE_HALF_LIFE`].
    seconds: f64,
    at: Instant,
    /// Finished jobs no longer than [`LIGHT_JOB`] (saturating).
    light_jobs: u32,
    /// Until when a job longer than [`LIGHT_JOB`] keeps the client off the light lane.
    heavy_until: Option<Instant>,
    /// The client's own budget ([`Budgets::client`]).
    bucket: Bucket,
}

impl Usage {
    fn new(now: Instant, budget: Option<Duration>) -> Usage {
        Usage {
            running: 0,
            seconds: 0.0,
            at: now,
            light_jobs: 0,
            heavy_until: None,
            bucket: Bucket::full(budget.unwrap_or_default(), now),
        }
    }

    fn heavy_at(&self, now: Instant) -> bool {
        self.heavy_until.is_some_and(|t| now < t)
    }

    /// Whether a light-lane thread may take this client's next job.
    fn light_at(&self, now: Instant) -> bool {
        self.running == 0 && self.light_jobs > 0 && !self.heavy_at(now)
    }

    fn seconds_at(&self, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.at).as_secs_f64();
        self.seconds * 0.5f64.powf(age / USAGE_HALF_LIFE.as_secs_f64())
    }
}

impl State {
    fn new(
        waiting: FairQueue<Client, Queued>,
        client_threads: usize,
        budgets: Budgets,
        memory: AnswerMemory,
    ) -> State {
        let now = Instant::now();
        State {
            waiting,
            client_threads: client_threads.max(1),
            clients: HashMap::new(),
            closed: false,
            budgets,
            pool_bucket: Bucket::full(budgets.pool.unwrap_or_default(), now),
            held: HeldBytes::default(),
            memory,
        }
    }

    /// How long `client`'s next job must wait for the budgets (zero: it may start; None:
    /// a zero budget in debt, never). Light clients and the unnamed in-process caller
    /// are not held to them.
    fn budget_wait(&self, client: &Client, now: Instant) -> Option<Duration> {
        let usage = self.clients.get(client);
        if *client == Client::Unnamed || usage.is_some_and(|u| u.light_at(now)) {
            return Some(Duration::ZERO);
        }
        let own = match (usage, self.budgets.client) {
            (Some(u), Some(r)) => u.bucket.ready_in(r, now)?,
            _ => Duration::ZERO,
        };
        let shared = match self.budgets.pool {
            Some(r) => self.pool_bucket.ready_in(r, now)?,
            None => Duration::ZERO,
        };
        Some(own.max(shared))
    }

    /// How long until a waiting client that is held back by a budget only may start a
    /// job (None: none is, or it never will).
    fn next_budget_refill(&self, now: Instant) -> Option<Duration> {
        if self.budgets == Budgets::NONE {
            return None;
        }
        self.waiting
            .waiting_sources()
            .filter(|c| self.below_share(c))
            .filter_map(|c| self.budget_wait(c, now))
            .filter(|w| !w.is_zero())
            .min()
    }

    /// How long until a waiting client's cooldown ends (None: none cools off). Nothing
    /// else signals its end to a waiting worker.
    fn next_cooldown_end(&self, now: Instant) -> Option<Duration> {
        self.waiting
            .waiting_sources()
            .filter_map(|c| self.held.cooling_for(c, now))
            .min()
    }

    /// How long a worker with nothing to take may sleep before something changes that no
    /// other thread signals: a budget refilled, a cooldown ended, or (while a job waits
    /// for the total answer memory) a held answer fell behind the minimum rate (None:
    /// until woken).
    fn next_wake(&self, now: Instant) -> Option<Duration> {
        let pace = self
            .waits_for_total(now)
            .then_some(crate::answer_memory::PACE_CHECK);
        [
            self.next_budget_refill(now),
            self.next_cooldown_end(now),
            pace,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether a waiting client that could otherwise start a job is held back by the
    /// total answer memory only ([`HeldBytes::waits_for_room`]).
    fn waits_for_total(&self, now: Instant) -> bool {
        self.held.total_full(&self.memory)
            && self.waiting.waiting_sources().any(|c| {
                self.below_share(c)
                    && self.budget_wait(c, now) == Some(Duration::ZERO)
                    && self.held.allows_own(&self.memory, c, now)
                    && self.held.waits_for_room(&self.memory, c)
            })
    }

    /// Whether `c` has fewer jobs running than its share (the unnamed in-process caller
    /// has none).
    fn below_share(&self, c: &Client) -> bool {
        *c == Client::Unnamed
            || self
                .clients
                .get(c)
                .is_none_or(|u| u.running < self.client_threads)
    }

    /// The waiting client to serve next: fewest jobs running, then least recent worker
    /// time, then lowest key; only clients below their share of running jobs (the
    /// unnamed in-process caller has none) and within the budgets
    /// ([`Self::budget_wait`]), and only light clients for a light-lane thread.
    fn next_client(&self, now: Instant, light_only: bool) -> Option<Client> {
        let rank = |c: &Client| match self.clients.get(c) {
            Some(u) => (u.running, u.seconds_at(now)),
            None => (0, 0.0),
        };
        let within_budget = |c: &Client| self.budget_wait(c, now) == Some(Duration::ZERO);
        let eligible = |c: &Client| {
            self.below_share(c)
                && (!light_only || self.clients.get(c).is_some_and(|u| u.light_at(now)))
                && within_budget(c)
                && self.held.allows(&self.memory, c, now)
        };
        let mut best: Option<(Client, (usize, f64))> = None;
        for c in self.waiting.waiting_sources().filter(|c| eligible(c)) {
            let r = rank(c);
            let better = match &best {
                None => true,
                Some((_, b)) => r.0 < b.0 || (r.0 == b.0 && r.1 < b.1),
            };
            if better {
                best = Some((*c, r));
            }
        }
        best.map(|(c, _)| c)
    }

    /// The client whose newest waiting job a job of `newcomer` replaces when the pool is
    /// full: the one with the most waiting (then the most worker time lately), provided
    /// it has at least two more than `newcomer`, so that after the exchange it still has
    /// more and two clients never take turns evicting each other.
    fn victim(&self, newcomer: &Client, now: Instant) -> Option<Client> {
        let mine = self.waiting.len_of(newcomer);
        let mut best: Option<(Client, usize, f64)> = None;
        for c in self.waiting.waiting_sources() {
            let n = self.waiting.len_of(c);
            let t = self.clients.get(c).map_or(0.0, |u| u.seconds_at(now));
            let better = match &best {
                None => true,
                Some((_, bn, bt)) => n > *bn || (n == *bn && t > *bt),
            };
            if better {
                best = Some((*c, n, t));
            }
        }
        best.filter(|(_, n, _)| *n >= mine + 2).map(|(c, _, _)| c)
    }

    /// Takes the next job to run (of a light client only for a light-lane thread) and
    /// counts it as running for its client.
    fn take(&mut self, now: Instant, light_only: bool) -> Option<(Client, Queued)> {
        let client = self.next_client(now, light_only)?;
        let job = self.waiting.pop_from(&client)?;
        self.held.started(&client);
        // A client's queue goes once it is empty, so the queue map holds only clients
        // with jobs waiting (at most threads + queue of them).
        if self.waiting.len_of(&client) == 0 {
            self.waiting.retain_sources(|c| *c != client);
        }
        let budget = self.budgets.client;
        let u = self
            .clients
            .entry(client)
            .or_insert(Usage::new(now, budget));
        u.running += 1;
        Some((client, job))
    }

    /// Records what one of `client`'s jobs used: its share and lane by the time it held
    /// its thread, its budgets by its time on a CPU.
    fn finished(&mut self, client: Client, used: Used, now: Instant) {
        if let Some(r) = self.budgets.pool {
            if client != Client::Unnamed {
                self.pool_bucket.charge(r, used.cpu, now);
            }
        }
        let Some(u) = self.clients.get_mut(&client) else {
            return;
        };
        if let Some(r) = self.budgets.client {
            u.bucket.charge(r, used.cpu, now);
        }
        let used = used.held;
        u.running = u.running.saturating_sub(1);
        u.seconds = u.seconds_at(now) + used.as_secs_f64();
        u.at = now;
        if used > LIGHT_JOB {
            u.heavy_until = Some(now + HEAVY_FOR);
        } else {
            u.light_jobs = u.light_jobs.saturating_add(1);
        }
        if self.clients.len() > REMEMBERED_CLIENTS {
            let waiting = &self.waiting;
            let faded = FORGOTTEN.as_secs_f64();
            let budget = self.budgets.client;
            // A client kept off the light lane, or in debt to its budget, is remembered
            // while it is: forgotten, it would start afresh.
            self.clients.retain(|c, u| {
                u.running > 0
                    || waiting.len_of(c) > 0
                    || u.seconds_at(now) >= faded
                    || u.heavy_at(now)
                    || budget.is_some_and(|r| !u.bucket.allows(r, now))
            });
        }
        if self.clients.len() > REMEMBERED_CLIENTS {
            let idle = self
                .clients
                .get(&client)
                .is_some_and(|u| u.running == 0 && self.waiting.len_of(&client) == 0);
            if idle {
                self.clients.remove(&client);
            }
        }
    }
}

/// The workers and their queues.
pub struct WorkerPool {
    threads: usize,
    queue: usize,
    client_queue: usize,
    /// Jobs one named client may have running at once.
    client_threads: usize,
    /// Threads at the starting thread's priority that serve light clients only.
    light_threads: usize,
    /// How far below the thread that starts them the workers run: nice steps and
    /// policy ([`crate::worker_priority`]).
    lowering: crate::worker_priority::Lowering,
    /// Cores of the process's allowed set the workers (not the light lane) leave to the
    /// rest of it ([`nano_http::background_cpus`]).
    spare_cores: usize,
    shared: OnceLock<Option<Arc<Shared>>>,
    /// Jobs accepted and not yet finished (queued or running).
    in_flight: Arc<AtomicUsize>,
    /// When each client's refusals from [`Self::run`] are answered.
    refusals: crate::refusal_pace::RefusalPace,
    /// The budgets the pool starts with ([`Self::set_budgets`] changes those of a
    /// started pool).
    budgets: Mutex<Budgets>,
    /// The answer-memory limits the pool starts with ([`Self::set_answer_memory`]).
    memory: Mutex<AnswerMemory>,
    /// CPU time charged to named clients' jobs so far, in nanoseconds.
    charged: Arc<AtomicU64>,
}

impl Default for WorkerPool {
    fn default() -> Self {
        WorkerPool::new(default_threads(), DEFAULT_QUEUE)
    }
}

impl WorkerPool {
    /// A pool of `threads` workers (at least one) and `queue` waiting slots, of which one
    /// client may hold [`DEFAULT_CLIENT_QUEUE`]; nothing starts until the first job.
    pub fn new(threads: usize, queue: usize) -> WorkerPool {
        WorkerPool::with_client_queue(threads, queue, DEFAULT_CLIENT_QUEUE)
    }

    /// A pool whose clients may each have at most `client_queue` jobs waiting (at least
    /// one) and [`default_client_threads`] running.
    pub fn with_client_queue(threads: usize, queue: usize, client_queue: usize) -> WorkerPool {
        WorkerPool {
            threads: threads.max(1),
            queue,
            client_queue: client_queue.max(1),
            client_threads: default_client_threads(threads.max(1)),
            light_threads: 0,
            lowering: crate::worker_priority::Lowering::DEFAULT,
            spare_cores: nano_http::background_cpus::DEFAULT_SPARE_CORES,
            shared: OnceLock::new(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            refusals: crate::refusal_pace::RefusalPace::new(crate::refusal_pace::REFUSAL_SPACING),
            budgets: Mutex::new(Budgets::NONE),
            memory: Mutex::new(AnswerMemory::NONE),
            charged: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same pool with limits on the bytes of answers held until written (see the
    /// module docs; none unless set).
    pub fn with_answer_memory(self, memory: AnswerMemory) -> WorkerPool {
        self.set_answer_memory(memory);
        self
    }

    /// Changes the answer-memory limits from now on, for a started pool too.
    pub fn set_answer_memory(&self, memory: AnswerMemory) {
        if let Ok(mut m) = self.memory.lock() {
            *m = memory;
        }
        if let Some(Some(shared)) = self.shared.get() {
            if let Ok(mut st) = shared.state.lock() {
                st.memory = memory;
            }
            shared.ready.notify_all();
        }
    }

    /// The answer-memory limits.
    pub fn answer_memory(&self) -> AnswerMemory {
        self.memory.lock().map_or(AnswerMemory::NONE, |m| *m)
    }

    /// Bytes of answers held until written now, of all clients and of `client` (tests,
    /// diagnostics).
    pub fn held_answer_bytes(&self, client: &Client) -> (usize, usize) {
        match self.shared.get() {
            Some(Some(s)) => s
                .state
                .lock()
                .map_or((0, 0), |st| (st.held.total(), st.held.of(client))),
            _ => (0, 0),
        }
    }

    /// Whether `client` cools off after a connection of its was closed for not taking
    /// its answer in time ([`crate::answer_memory::LATE_ANSWER_COOLDOWN`]).
    pub fn cooling_off(&self, client: &Client) -> bool {
        match self.shared.get() {
            Some(Some(s)) => s
                .state
                .lock()
                .is_ok_and(|st| st.held.cooling_for(client, Instant::now()).is_some()),
            _ => false,
        }
    }

    /// The same pool with CPU-time budgets for clients that are not light (see the
    /// module docs; [`Budgets::default`], none, unless set).
    pub fn with_budgets(self, budgets: Budgets) -> WorkerPool {
        self.set_budgets(budgets);
        self
    }

    /// Changes the budgets from now on, for a started pool too (benchmarks compare
    /// with and without in one run).
    pub fn set_budgets(&self, budgets: Budgets) {
        if let Ok(mut b) = self.budgets.lock() {
            *b = budgets;
        }
        if let Some(Some(shared)) = self.shared.get() {
            if let Ok(mut st) = shared.state.lock() {
                st.budgets = budgets;
            }
            // Jobs held back by a budget that is now gone or larger may start.
            shared.ready.notify_all();
        }
    }

    /// CPU time charged to named clients' jobs since the pool started: what the budgets
    /// bound (benchmarks, diagnostics).
    pub fn charged(&self) -> Duration {
        Duration::from_nanos(self.charged.load(Ordering::Relaxed))
    }

    /// Jobs the light-lane threads have run since the pool started (benchmarks,
    /// diagnostics: how many of a cheap client's calls ran on the lane, at the process's
    /// priority, rather than on a lowered worker).
    pub fn light_served(&self) -> u64 {
        match self.shared.get() {
            Some(Some(s)) => s.light_served.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Where the short jobs' time went since the pool started ([`crate::job_timing`]).
    pub fn short_jobs(&self) -> crate::job_timing::ShortJobs {
        match self.shared.get() {
            Some(Some(s)) => s.short_jobs.totals(),
            _ => Default::default(),
        }
    }

    pub fn budgets(&self) -> Budgets {
        self.budgets.lock().map_or(Budgets::NONE, |b| *b)
    }

    /// One client's refusals from [`Self::run`] are answered at least `spacing` apart
    /// from now on ([`crate::refusal_pace`]; zero: each at once).
    pub fn set_refusal_spacing(&self, spacing: Duration) {
        self.refusals.set_spacing(spacing);
    }

    pub fn refusal_spacing(&self) -> Duration {
        self.refusals.spacing()
    }

    /// The same pool with its workers `nice` steps below the thread that starts them
    /// (0 without the idle policy: at its priority).
    pub fn with_nice(mut self, nice: u32) -> WorkerPool {
        self.lowering.nice = nice;
        self
    }

    pub fn nice(&self) -> u32 {
        self.lowering.nice
    }

    /// The same pool with its workers under `SCHED_IDLE` (`idle`) or not
    /// ([`crate::worker_priority::DEFAULT_IDLE`]).
    pub fn with_idle_policy(mut self, idle: bool) -> WorkerPool {
        self.lowering.idle = idle;
        self
    }

    pub fn lowering(&self) -> crate::worker_priority::Lowering {
        self.lowering
    }

    /// The same pool with its workers (not the light lane) kept off the first `spare` of
    /// the cores the starting thread may use ([`nano_http::background_cpus`]; 0: on every
    /// core).
    pub fn with_spare_cores(mut self, spare: usize) -> WorkerPool {
        self.spare_cores = spare;
        self
    }

    pub fn spare_cores(&self) -> usize {
        self.spare_cores
    }

    /// The same pool with each named client allowed at most `client_threads` running
    /// jobs (at least one; more than the threads means no limit).
    pub fn with_client_threads(mut self, client_threads: usize) -> WorkerPool {
        self.client_threads = client_threads.max(1);
        self
    }

    pub fn client_threads(&self) -> usize {
        self.client_threads
    }

    /// The same pool with `light_threads` light-lane threads besides its workers (see
    /// the module docs; 0: none).
    pub fn with_light_threads(mut self, light_threads: usize) -> WorkerPool {
        self.light_threads = light_threads;
        self
    }

    pub fn light_threads(&self) -> usize {
        self.light_threads
    }

    /// Jobs in flight at most: one per thread plus the queue.
    fn limit(&self) -> usize {
        self.threads + self.light_threads + self.queue
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn queue(&self) -> usize {
        self.queue
    }

    pub fn client_queue(&self) -> usize {
        self.client_queue
    }

    /// Jobs queued or running now (tests, diagnostics).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Jobs of `client` waiting for a worker now (tests, diagnostics).
    pub fn waiting_of(&self, client: &Client) -> usize {
        match self.shared.get() {
            Some(Some(s)) => s.state.lock().map_or(0, |st| st.waiting.len_of(client)),
            _ => 0,
        }
    }

    fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared
            .get_or_init(|| {
                // Actions that drive the node's async API (forced `process`, dialing a
                // peer) need the runtime of the server that started the pool.
                let rt = tokio::runtime::Handle::try_current().ok();
                let (client_queue, lowering) = (self.client_queue, self.lowering);
                let spare_cores = self.spare_cores;
                let client_threads = self.client_threads;
                let limits = move |_: &Client| SourceLimits {
                    max: client_queue,
                    priority: 1,
                };
                let shared = Arc::new(Shared {
                    // Admission already holds the total to the limit.
                    state: Mutex::new(State::new(
                        FairQueue::new(self.limit(), Box::new(limits)),
                        client_threads,
                        self.budgets(),
                        self.answer_memory(),
                    )),
                    ready: Condvar::new(),
                    light_threads: self.light_threads,
                    charged: self.charged.clone(),
                    light_served: AtomicU64::new(0),
                    running: AtomicUsize::new(0),
                    short_jobs: Default::default(),
                });
                for i in 0..self.threads + self.light_threads {
                    let (shared, rt) = (shared.clone(), rt.clone());
                    let light = i >= self.threads;
                    let name = match light {
                        false => format!("rpc slow {i}"),
                        true => format!("rpc slow light {}", i - self.threads),
                    };
                    let spawned = std::thread::Builder::new().name(name).spawn(move || {
                        if !light {
                            if let Err(e) = crate::worker_priority::lower_current_thread(lowering) {
                                if i == 0 {
                                    tracing::warn!("slow-action workers keep their priority: {e}");
                                }
                            }
                            let confined =
                                nano_http::background_cpus::confine_current_thread(spare_cores);
                            if let (Err(e), 0) = (confined, i) {
                                tracing::warn!("slow-action workers run on every core: {e}");
                            }
                        }
                        let _in_runtime = rt.as_ref().map(|h| h.enter());
                        work(&shared, light)
                    });
                    if let Err(e) = spawned {
                        tracing::error!("cannot start slow-action worker: {e}");
                        if i == 0 {
                            return None;
                        }
                    }
                }
                Some(shared)
            })
            .as_ref()
    }

    /// Admits one job of `client` and queues the job `make` builds around the
    /// admission's [`Done`]. When threads + queue are in flight, the job takes the place
    /// of another client's newest waiting job ([`State::victim`]), which is then answered
    /// as refused, or is refused itself; it is refused too when its client's queue is
    /// full.
    fn submit(&self, client: Client, make: impl FnOnce(Done) -> Job) -> Result<(), PoolError> {
        let shared = self.shared().ok_or(PoolError::Failed)?;
        // Admission counts jobs, queued or running: a job queued but not yet picked up by
        // a worker that is still starting must not make the pool refuse early.
        let limit = self.limit();
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        let undo = || {
            if admitted {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        };
        let mut st = match shared.state.lock() {
            Ok(st) if !st.closed => st,
            _ => {
                undo();
                return Err(PoolError::Failed);
            }
        };
        let victim = if admitted {
            None
        } else {
            match st.victim(&client, Instant::now()) {
                Some(v) => {
                    // The newcomer's place; the evicted job gives its own back when it
                    // answers.
                    self.in_flight.fetch_add(1, Ordering::AcqRel);
                    Some(v)
                }
                None => return Err(PoolError::Busy),
            }
        };
        let job = Queued {
            job: make(Done(self.in_flight.clone())),
            at: Instant::now(),
        };
        if let Err((_, why)) = st.waiting.push(client, job) {
            drop(st);
            // The job never ran: undo its count here.
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(match why {
                Rejected::SourceFull | Rejected::GlobalFull => PoolError::Busy,
            });
        }
        let evicted = victim.and_then(|v| st.waiting.pop_back_from(&v));
        drop(st);
        shared.wake();
        if let Some(evicted) = evicted {
            (evicted.job)(false);
        }
        Ok(())
    }

    /// Queues `job` for `client` without waiting for it; refuses at once when the pool or
    /// the client's queue is full.
    pub fn try_spawn(
        &self,
        client: Client,
        job: impl FnOnce() + Send + 'static,
    ) -> Result<(), PoolError> {
        self.submit(client, |done| {
            Box::new(move |run| {
                if run {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
                done.finish();
            })
        })
    }

    /// Runs `job` for `client` on a worker and waits (asynchronously) for its result;
    /// refuses when the pool or the client's queue is full (at the client's next refusal
    /// slot, [`crate::refusal_pace`]), or later if another client's job takes its place
    /// in the queue.
    pub async fn run<T, F>(&self, client: Client, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let submitted = self.submit(client, |done| {
            Box::new(move |run| {
                if !run {
                    done.finish();
                    let _ = done_tx.send(Err(PoolError::Busy));
                    return;
                }
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                // Before the answer goes out, so a caller that got it sees the count drop.
                done.finish();
                if let Ok(v) = out {
                    let _ = done_tx.send(Ok(v));
                }
            })
        });
        if submitted == Err(PoolError::Busy) {
            self.refusals.wait(client).await;
        }
        submitted?;
        done_rx.await.map_err(|_| PoolError::Failed)?
    }

    /// [`Self::run`] for a job whose result is an answer to be written to `client`: the
    /// answer comes with its [`HeldAnswer`], which the caller keeps until the answer has
    /// been handed to the socket, so that the client's further jobs wait while it holds
    /// the configured [`AnswerMemory`]. [`PoolError::Busy`] also when the answer is
    /// refused for its size while everyone holds the total ([`HeldBytes::refuses`]).
    pub async fn run_answer<F>(
        &self,
        client: Client,
        job: F,
    ) -> Result<(Vec<u8>, HeldAnswer), PoolError>
    where
        F: FnOnce() -> Vec<u8> + Send + 'static,
    {
        let shared = self.shared().ok_or(PoolError::Failed)?.clone();
        self.run(client, move || {
            let answer = job();
            // Counted on the worker, before the caller can see it: the job after this one
            // is admitted knowing the answer is held.
            let (bytes, id, taken) = match shared.state.lock() {
                Ok(mut st) => {
                    let memory = st.memory;
                    if st.held.refuses(&memory, client, answer.len()) {
                        return None;
                    }
                    st.held.hold(client, answer.len());
                    let (id, taken) = st.held.watch(client, answer.len(), Instant::now());
                    (answer.len(), id, taken)
                }
                Err(_) => (0, 0, Arc::default()),
            };
            let held = HeldAnswer {
                shared,
                client,
                bytes,
                late: false,
                id,
                taken,
            };
            Some((answer, held))
        })
        .await?
        .ok_or(PoolError::Busy)
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        if let Some(Some(shared)) = self.shared.get() {
            if let Ok(mut st) = shared.state.lock() {
                st.closed = true;
            }
            shared.ready.notify_all();
        }
    }
}

/// One admitted job's place in the in-flight count, given back when it ends.
struct Done(Arc<AtomicUsize>);

impl Done {
    fn finish(self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One worker (a light-lane thread if `light_only`): takes the next client's job (see
/// [`State::next_client`]) until the pool is dropped and its queues are empty, and
/// charges the client the time the job held the thread, less its waits for a CPU
/// ([`crate::thread_time`]): a cheap call preempted on a busy machine keeps its client
/// light.
fn work(shared: &Shared, light_only: bool) {
    let clock = crate::thread_time::ThreadClock::for_current_thread();
    loop {
        let (client, queued) = {
            let Ok(mut st) = shared.state.lock() else {
                return;
            };
            loop {
                if let Some(next) = st.take(Instant::now(), light_only) {
                    break next;
                }
                if st.closed {
                    return;
                }
                // Others wait for the memory held answers keep: the one furthest behind the
                // minimum rate need not keep it until its deadline.
                let now = Instant::now();
                if st.waits_for_total(now) {
                    let memory = st.memory;
                    st.held.close_furthest_behind(&memory, now);
                }
                // A job held back by a budget or a cooldown only starts when the budget
                // has refilled or the cooldown ended, which no other thread signals.
                st = match st.next_wake(Instant::now()) {
                    Some(refill) => match shared.ready.wait_timeout(st, refill.max(MIN_WAIT)) {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    },
                    None => match shared.ready.wait(st) {
                        Ok(g) => g,
                        Err(_) => return,
                    },
                };
            }
        };
        if light_only {
            shared.light_served.fetch_add(1, Ordering::Relaxed);
        }
        let busy = shared.running.fetch_add(1, Ordering::Relaxed);
        let started = clock.start();
        let waited = queued.at.elapsed();
        (queued.job)(true);
        let ran = queued.at.elapsed().saturating_sub(waited);
        let used = clock.used_since(&started);
        shared.running.fetch_sub(1, Ordering::Relaxed);
        if ran <= LIGHT_JOB {
            shared.short_jobs.record(waited, ran, busy, light_only);
        }
        let Ok(mut st) = shared.state.lock() else {
            return;
        };
        st.finished(client, used, Instant::now());
        // After the budgets are charged, so that a caller who sees the count sees them.
        if client != Client::Unnamed {
            let ns = u64::try_from(used.cpu.as_nanos()).unwrap_or(u64::MAX);
            shared.charged.fetch_add(ns, Ordering::Relaxed);
        }
        // A client at its share, or off the light lane now, may have jobs that no
        // sleeping thread took when they arrived.
        if st.waiting.len_of(&client) > 0 {
            shared.ready.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, RecvTimeoutError};

    #[test]
    fn holds_threads_plus_queue_jobs_and_refuses_the_next() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = Arc::new(WorkerPool::new(2, 3));
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (started_tx, started_rx) = channel::<()>();
        rt.block_on(async {
            let mut waiting = Vec::new();
            for _ in 0..5 {
                let (p, r, s) = (pool.clone(), release_rx.clone(), started_tx.clone());
                waiting.push(tokio::spawn(async move {
                    p.run(Client::Unnamed, move || {
                        let _ = s.send(());
                        let _ = r.lock().unwrap().recv();
                        7
                    })
                    .await
                }));
            }
            // Both workers hold a job; three wait in the queue.
            let mut started = 0;
            for _ in 0..2000 {
                while started_rx.try_recv().is_ok() {
                    started += 1;
                }
                if started == 2 && pool.in_flight() == 5 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            assert_eq!((started, pool.in_flight()), (2, 5));
            // Refused; a second refusal of the same client comes a spacing later.
            let t = std::time::Instant::now();
            assert_eq!(pool.run(Client::Unnamed, || 1).await, Err(PoolError::Busy));
            assert_eq!(pool.run(Client::Unnamed, || 1).await, Err(PoolError::Busy));
            assert!(t.elapsed() >= pool.refusal_spacing());
            for _ in 0..5 {
                release_tx.send(()).unwrap();
            }
            for w in waiting {
                assert_eq!(w.await.unwrap(), Ok(7));
            }
            assert_eq!(pool.in_flight(), 0);
            assert_eq!(pool.run(Client::Unnamed, || 2).await, Ok(2));
        });
    }

    #[test]
    fn spawned_jobs_beyond_threads_plus_queue_are_refused() {
        let pool = WorkerPool::new(1, 2);
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..3 {
            let r = release_rx.clone();
            pool.try_spawn(Client::Unnamed, move || {
                let _ = r.lock().unwrap().recv();
            })
            .unwrap();
        }
        assert_eq!(pool.try_spawn(Client::Unnamed, || {}), Err(PoolError::Busy));
        assert_eq!(pool.in_flight(), 3);
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        for _ in 0..2000 {
            if pool.in_flight() == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(pool.in_flight(), 0);
        assert_eq!(pool.try_spawn(Client::Unnamed, || {}), Ok(()));
    }

    #[test]
    fn a_panicking_job_fails_its_caller_and_keeps_the_worker() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = WorkerPool::new(1, 1);
        rt.block_on(async {
            let r: Result<(), _> = pool.run(Client::Unnamed, || panic!("job failed")).await;
            assert_eq!(r, Err(PoolError::Failed));
            assert_eq!(pool.run(Client::Unnamed, || 3).await, Ok(3));
            assert_eq!(pool.in_flight(), 0);
        });
    }

    /// A job that was on a CPU all the time it held its thread.
    fn ran(d: Duration) -> Used {
        Used { held: d, cpu: d }
    }

    fn ip(last: u8) -> Client {
        Client::from_ip(IpAddr::from([127, 0, 0, last]))
    }

    /// Submits jobs that record their client in `order` and wait for `gate`; returns
    /// once the pool's one worker has started the first.
    fn gated(
        pool: &WorkerPool,
        jobs: &[Client],
        order: &Arc<Mutex<Vec<Client>>>,
        gate: &Arc<Mutex<std::sync::mpsc::Receiver<()>>>,
    ) -> Vec<Result<(), PoolError>> {
        jobs.iter()
            .map(|&c| {
                let (order, gate) = (order.clone(), gate.clone());
                pool.try_spawn(c, move || {
                    order.lock().unwrap().push(c);
                    let _ = gate.lock().unwrap().recv();
                })
            })
            .collect()
    }

    fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        for _ in 0..2000 {
            if f() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        f()
    }

    #[test]
    fn another_client_is_served_right_after_the_running_call_of_a_flood() {
        let pool = WorkerPool::with_client_queue(1, 100, 50);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (flooder, quiet) = (ip(1), ip(9));
        assert_eq!(gated(&pool, &[flooder], &order, &gate), vec![Ok(())]);
        assert!(wait_for(|| order.lock().unwrap().len() == 1));
        // 40 more from the flooder queue behind the running one, then one from another
        // client.
        let flood = gated(&pool, &[flooder; 40], &order, &gate);
        assert!(flood.iter().all(|r| r.is_ok()));
        assert_eq!(gated(&pool, &[quiet], &order, &gate), vec![Ok(())]);
        assert_eq!(pool.waiting_of(&flooder), 40);
        assert_eq!(pool.waiting_of(&quiet), 1);
        // The running call ends: the other client's call is next, not the flood's.
        release.send(()).unwrap();
        assert!(wait_for(|| order.lock().unwrap().len() == 2));
        assert_eq!(order.lock().unwrap()[1], quiet);
        assert_eq!(pool.waiting_of(&flooder), 40);
        for _ in 0..41 {
            release.send(()).unwrap();
        }
        assert!(wait_for(|| pool.in_flight() == 0));
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 42);
        assert_eq!(order.iter().filter(|c| **c == flooder).count(), 41);
    }

    fn state() -> State {
        state_with(Budgets::NONE)
    }

    fn state_with(budgets: Budgets) -> State {
        State::new(
            FairQueue::new(
                1000,
                Box::new(|_: &Client| SourceLimits {
                    max: 100,
                    priority: 1,
                }),
            ),
            usize::MAX,
            budgets,
            AnswerMemory::NONE,
        )
    }

    fn queue_jobs(st: &mut State, client: Client, n: usize) {
        for _ in 0..n {
            let job = Queued {
                job: Box::new(|_| {}),
                at: Instant::now(),
            };
            assert!(st.waiting.push(client, job).is_ok());
        }
    }

    /// Runs `n` jobs of `client` to completion, each charged `each`.
    fn charge(st: &mut State, client: Client, n: usize, each: Duration, now: Instant) {
        queue_jobs(st, client, n);
        for _ in 0..n {
            let (c, _) = st.take(now, false).unwrap();
            assert_eq!(c, client);
            st.finished(c, ran(each), now);
        }
    }

    #[test]
    fn the_client_that_used_the_least_worker_time_goes_first() {
        let now = Instant::now();
        let mut st = state();
        let (heavy, light, new) = (ip(1), ip(2), ip(3));
        // Many cheap calls weigh less than one scan: shares are of time, not of calls.
        charge(&mut st, heavy, 1, Duration::from_millis(500), now);
        charge(&mut st, light, 50, Duration::from_micros(300), now);
        queue_jobs(&mut st, heavy, 3);
        queue_jobs(&mut st, light, 1);
        queue_jobs(&mut st, new, 1);
        let order: Vec<Client> = (0..5).map(|_| st.take(now, false).unwrap().0).collect();
        // Taken jobs stay running: after its first, a client waits behind every client
        // with fewer running.
        assert_eq!(order, vec![new, light, heavy, heavy, heavy]);
        assert!(st.take(now, false).is_none());
    }

    #[test]
    fn flooders_on_many_addresses_do_not_delay_a_cheap_client() {
        let now = Instant::now();
        let mut st = state();
        let flooders: Vec<Client> = (10..74).map(ip).collect();
        for &f in &flooders {
            charge(&mut st, f, 1, Duration::from_millis(500), now);
            queue_jobs(&mut st, f, 1);
        }
        let legit = ip(2);
        charge(&mut st, legit, 20, Duration::from_micros(300), now);
        // Four workers take flooders' scans; then the legitimate call arrives.
        for _ in 0..4 {
            let (c, _) = st.take(now, false).unwrap();
            assert_ne!(c, legit);
        }
        queue_jobs(&mut st, legit, 1);
        assert_eq!(st.take(now, false).map(|x| x.0), Some(legit));
    }

    #[test]
    fn recorded_time_fades_and_running_jobs_count_first() {
        let now = Instant::now();
        let mut st = state();
        let (a, b) = (ip(1), ip(2));
        charge(&mut st, a, 1, Duration::from_secs(4), now);
        let later = now + USAGE_HALF_LIFE * 2;
        let faded = st.clients[&a].seconds_at(later);
        assert!((faded - 1.0).abs() < 1e-6, "{faded}");
        // b has a job running: a, despite its time, goes first.
        queue_jobs(&mut st, b, 2);
        let _running = st.take(later, false).unwrap();
        queue_jobs(&mut st, a, 1);
        assert_eq!(st.take(later, false).map(|x| x.0), Some(a));
        assert_eq!(st.take(later, false).map(|x| x.0), Some(b));
    }

    #[test]
    fn remembered_clients_are_bounded() {
        let now = Instant::now();
        let mut st = state();
        for i in 0..(REMEMBERED_CLIENTS as u32 + 500) {
            let c = Client::from_ip(IpAddr::from((0x0a00_0000 + i).to_be_bytes()));
            charge(&mut st, c, 1, Duration::from_secs(1), now);
        }
        assert!(
            st.clients.len() <= REMEMBERED_CLIENTS + 1,
            "{}",
            st.clients.len()
        );
        // Faded time is dropped first once the map is full.
        let later = now + USAGE_HALF_LIFE * 20;
        charge(&mut st, ip(1), 1, Duration::from_secs(1), later);
        assert!(st.clients.len() < 10, "{}", st.clients.len());
        assert!(st.clients.contains_key(&ip(1)));
    }

    #[test]
    fn a_full_client_queue_refuses_that_client_only() {
        let pool = WorkerPool::with_client_queue(1, 100, 3);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (flooder, other) = (ip(1), ip(2));
        gated(&pool, &[flooder], &order, &gate);
        assert!(wait_for(|| order.lock().unwrap().len() == 1));
        let r = gated(&pool, &[flooder; 5], &order, &gate);
        use PoolError::Busy;
        assert_eq!(r, vec![Ok(()), Ok(()), Ok(()), Err(Busy), Err(Busy)]);
        assert_eq!((pool.in_flight(), pool.waiting_of(&flooder)), (4, 3));
        assert_eq!(gated(&pool, &[other], &order, &gate), vec![Ok(())]);
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        assert!(wait_for(|| pool.in_flight() == 0));
        assert_eq!(order.lock().unwrap().len(), 5);
    }

    /// (nice, policy) of the calling thread as the kernel reports it in
    /// `/proc/thread-self/stat` (fields 19 and 41), independently of the calls that set them.
    #[cfg(target_os = "linux")]
    fn kernel_view() -> (i32, i32) {
        let text = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after "pid (comm) " start at field 3.
        let rest: Vec<&str> = text[text.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        (rest[19 - 3].parse().unwrap(), rest[41 - 3].parse().unwrap())
    }

    /// The workers run on the cores the starting thread may use less the first spare
    /// ones; the light lane, and a pool without spare cores, on all of them.
    #[cfg(target_os = "linux")]
    #[test]
    fn workers_leave_the_spare_cores_and_the_light_lane_does_not() {
        use nano_http::background_cpus::{current_thread_cpus, DEFAULT_SPARE_CORES};
        let allowed = current_thread_cpus().unwrap();
        let without_first = |n: usize| {
            if allowed.len() > n {
                allowed[n..].to_vec()
            } else {
                allowed.clone()
            }
        };
        let cpus_of_a_job = |pool: &WorkerPool, light: bool| {
            let (tx, rx) = channel();
            let client = Client::from_ip(IpAddr::from([10, 0, 0, 9]));
            if light {
                // A cheap finished job makes the client light; with the one worker then
                // held, only the light lane can take its next job.
                let (done_tx, done_rx) = channel();
                pool.try_spawn(client, move || {
                    let _ = done_tx.send(());
                })
                .unwrap();
                done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                assert!(wait_for(|| pool.in_flight() == 0));
                let (gate_tx, gate_rx) = channel::<()>();
                let (held_tx, held_rx) = channel();
                pool.try_spawn(Client::Unnamed, move || {
                    let _ = held_tx.send(());
                    let _ = gate_rx.recv();
                })
                .unwrap();
                held_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                let t = tx.clone();
                pool.try_spawn(client, move || {
                    let _ = t.send(current_thread_cpus().unwrap());
                })
                .unwrap();
                let cpus = rx.recv_timeout(Duration::from_secs(30)).unwrap();
                let _ = gate_tx.send(());
                return cpus;
            }
            pool.try_spawn(client, move || {
                let _ = tx.send(current_thread_cpus().unwrap());
            })
            .unwrap();
            rx.recv_timeout(Duration::from_secs(30)).unwrap()
        };
        let pool = WorkerPool::new(1, 4);
        assert_eq!(pool.spare_cores(), DEFAULT_SPARE_CORES);
        assert_eq!(
            cpus_of_a_job(&pool, false),
            without_first(DEFAULT_SPARE_CORES)
        );
        assert_eq!(
            cpus_of_a_job(&WorkerPool::new(1, 4).with_spare_cores(0), false),
            allowed
        );
        let lane = WorkerPool::new(1, 4).with_light_threads(1);
        assert_eq!(cpus_of_a_job(&lane, true), allowed);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn workers_run_below_the_starting_thread_as_configured() {
        use crate::worker_priority::{Lowering, DEFAULT_IDLE, DEFAULT_NICE};
        let (own_nice, own_policy) = kernel_view();
        assert_eq!(own_policy, libc::SCHED_OTHER);
        // What a job's thread and a thread the job starts (work generation's) report.
        let seen = |pool: WorkerPool| {
            let (tx, rx) = channel();
            pool.try_spawn(Client::Unnamed, move || {
                let child = std::thread::spawn(kernel_view).join().unwrap();
                let _ = tx.send((kernel_view(), child));
            })
            .unwrap();
            let (worker, child) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
            assert_eq!(worker, child, "a thread a job starts inherits its priority");
            worker
        };
        // The defaults: +10 under SCHED_BATCH.
        assert_eq!((DEFAULT_NICE, DEFAULT_IDLE), (10, false));
        assert_eq!(WorkerPool::new(1, 1).lowering(), Lowering::DEFAULT);
        assert_eq!(
            seen(WorkerPool::new(1, 1)),
            ((own_nice + 10).min(19), libc::SCHED_BATCH)
        );
        assert_eq!(
            seen(WorkerPool::new(1, 1).with_nice(3).with_idle_policy(true)),
            ((own_nice + 3).min(19), libc::SCHED_IDLE)
        );
        assert_eq!(
            seen(WorkerPool::new(1, 1).with_nice(3).with_idle_policy(false)),
            ((own_nice + 3).min(19), libc::SCHED_BATCH)
        );
        assert_eq!(
            seen(WorkerPool::new(1, 1).with_nice(0).with_idle_policy(true)),
            (own_nice, libc::SCHED_IDLE)
        );
        assert_eq!(
            seen(WorkerPool::new(1, 1).with_nice(0).with_idle_policy(false)),
            (own_nice, libc::SCHED_OTHER)
        );
        // The wallet's work precomputation runs on a pool with the defaults.
        let ctx = crate::ApiContext::new(nano_core::Network::Dev);
        assert_eq!(ctx.precompute.lowering(), Lowering::DEFAULT);
        // The starting thread itself is untouched.
        assert_eq!(kernel_view(), (own_nice, libc::SCHED_OTHER));
    }

    #[test]
    fn a_full_queue_evicts_the_newest_job_of_the_client_with_the_most_waiting() {
        use futures::poll;
        use PoolError::Busy;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = WorkerPool::with_client_queue(1, 4, 4);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (flooder, other) = (ip(1), ip(2));
        let job = |c: Client, n: u32| {
            let (order, gate) = (order.clone(), gate.clone());
            move || {
                order.lock().unwrap().push((c, n));
                let _ = gate.lock().unwrap().recv();
                n
            }
        };
        let counts = || {
            (
                pool.waiting_of(&flooder),
                pool.waiting_of(&other),
                pool.in_flight(),
            )
        };
        rt.block_on(async {
            // The flooder holds the one worker and fills the shared queue of 4.
            let mut flood = Vec::new();
            for n in 0..5 {
                let mut f = Box::pin(pool.run(flooder, job(flooder, n)));
                assert!(poll!(&mut f).is_pending());
                flood.push(f);
                if n == 0 {
                    assert!(wait_for(|| order.lock().unwrap().len() == 1));
                }
            }
            assert_eq!(counts(), (4, 0, 5));
            // Another client's job takes the place of the flooder's newest, which is
            // answered as refused.
            let mut first = Box::pin(pool.run(other, job(other, 10)));
            assert!(poll!(&mut first).is_pending());
            assert_eq!((&mut flood[4]).await, Err(Busy));
            assert_eq!(counts(), (3, 1, 5));
            let mut second = Box::pin(pool.run(other, job(other, 11)));
            assert!(poll!(&mut second).is_pending());
            assert_eq!((&mut flood[3]).await, Err(Busy));
            assert_eq!(counts(), (2, 2, 5));
            // Two waiting each: neither takes the other's place; the newcomer is refused.
            assert_eq!(pool.run(other, job(other, 12)).await, Err(Busy));
            assert_eq!(pool.run(flooder, job(flooder, 5)).await, Err(Busy));
            assert_eq!(counts(), (2, 2, 5));
            for _ in 0..5 {
                release.send(()).unwrap();
            }
            assert_eq!((&mut flood[0]).await, Ok(0));
            assert_eq!(first.await, Ok(10));
            assert_eq!(second.await, Ok(11));
            assert_eq!((&mut flood[1]).await, Ok(1));
            assert_eq!((&mut flood[2]).await, Ok(2));
        });
        assert!(wait_for(|| pool.in_flight() == 0));
        let mut ran = order.lock().unwrap().clone();
        // The client that had used no worker time goes first once the worker is free.
        assert_eq!(ran[..2], [(flooder, 0), (other, 10)]);
        ran.sort();
        let mut expected = vec![
            (flooder, 0),
            (flooder, 1),
            (flooder, 2),
            (other, 10),
            (other, 11),
        ];
        expected.sort();
        assert_eq!(ran, expected);
    }

    #[test]
    fn the_light_lane_takes_only_clients_with_a_cheap_record_and_nothing_running() {
        let now = Instant::now();
        let mut st = state();
        let (cheap, scanner, mixed, new) = (ip(1), ip(2), ip(3), ip(4));
        charge(&mut st, cheap, 3, Duration::from_micros(300), now);
        charge(&mut st, scanner, 1, Duration::from_millis(400), now);
        // Cheap calls, then one scan: off the lane for HEAVY_FOR.
        charge(&mut st, mixed, 5, Duration::from_micros(300), now);
        charge(&mut st, mixed, 1, LIGHT_JOB + Duration::from_millis(1), now);
        for c in [cheap, scanner, mixed, new] {
            queue_jobs(&mut st, c, 2);
        }
        assert_eq!(st.take(now, true).map(|x| x.0), Some(cheap));
        // One job running: the cheap client's second waits for a worker.
        assert!(st.take(now, true).is_none());
        st.finished(cheap, ran(Duration::from_micros(300)), now);
        assert_eq!(st.take(now, true).map(|x| x.0), Some(cheap));
        st.finished(cheap, ran(Duration::from_micros(300)), now);
        // A worker takes anyone: the new client first (no time used).
        assert_eq!(st.take(now, false).map(|x| x.0), Some(new));
        st.finished(new, ran(Duration::from_micros(300)), now);
        // Now with a cheap record, the new client may use the lane too.
        assert_eq!(st.take(now, true).map(|x| x.0), Some(new));
        assert!(st.take(now, true).is_none());
        // The scan's mark fades after HEAVY_FOR.
        let later = now + HEAVY_FOR;
        assert_eq!(st.take(later, true).map(|x| x.0), Some(mixed));
        assert!(
            st.take(later, true).is_none(),
            "scanner never had a cheap job"
        );
    }

    #[test]
    fn a_light_client_is_served_while_every_worker_holds_a_scan() {
        let pool = WorkerPool::with_client_queue(1, 10, 10).with_light_threads(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (flooder, legit) = (ip(1), ip(2));
        // The legitimate client's cheap call gives it a record.
        let (tx, rx) = channel();
        pool.try_spawn(legit, move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(wait_for(|| pool.in_flight() == 0));
        // The flooder, new, is not light: its job goes to the worker and holds it.
        assert_eq!(gated(&pool, &[flooder], &order, &gate), vec![Ok(())]);
        assert!(wait_for(|| order.lock().unwrap().len() == 1));
        assert_eq!(gated(&pool, &[flooder; 3], &order, &gate), vec![Ok(()); 3]);
        assert_eq!(pool.waiting_of(&flooder), 3, "the lane takes none of them");
        // The legitimate call runs on the lane while the worker is still held.
        assert_eq!(gated(&pool, &[legit], &order, &gate), vec![Ok(())]);
        assert!(wait_for(|| order.lock().unwrap().len() == 2));
        assert_eq!(order.lock().unwrap()[1], legit);
        assert_eq!(pool.waiting_of(&flooder), 3);
        assert_eq!(
            pool.light_served(),
            1,
            "only the legitimate call ran on the lane"
        );
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        assert!(wait_for(|| pool.in_flight() == 0));
        assert_eq!(order.lock().unwrap().len(), 5);
    }

    #[test]
    fn one_client_holds_at_most_its_share_of_the_workers() {
        let pool = WorkerPool::with_client_queue(4, 100, 50);
        assert_eq!(pool.client_threads(), 2);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (flooder, second, third) = (ip(1), ip(2), ip(3));
        let flood = gated(&pool, &[flooder; 10], &order, &gate);
        assert!(flood.iter().all(|r| r.is_ok()));
        assert!(wait_for(|| order.lock().unwrap().len() == 2));
        // Two workers stay free for the others while the flood's two calls still run.
        assert_eq!(gated(&pool, &[second], &order, &gate), vec![Ok(())]);
        assert!(wait_for(|| order.lock().unwrap().len() == 3));
        assert_eq!(gated(&pool, &[third], &order, &gate), vec![Ok(())]);
        assert!(wait_for(|| order.lock().unwrap().len() == 4));
        {
            let o = order.lock().unwrap();
            assert_eq!(o.iter().filter(|c| **c == flooder).count(), 2, "{o:?}");
            assert_eq!(o[2..], [second, third]);
        }
        assert_eq!(pool.waiting_of(&flooder), 8);
        for _ in 0..12 {
            release.send(()).unwrap();
        }
        assert!(wait_for(|| pool.in_flight() == 0));
        assert_eq!(order.lock().unwrap().len(), 12);
        // The unnamed in-process caller has no share: it may use every worker.
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let order = Arc::new(Mutex::new(Vec::new()));
        gated(&pool, &[Client::Unnamed; 4], &order, &gate);
        assert!(wait_for(|| order.lock().unwrap().len() == 4));
        for _ in 0..4 {
            release.send(()).unwrap();
        }
        assert!(wait_for(|| pool.in_flight() == 0));
        assert_eq!(default_client_threads(1), 1);
        assert_eq!(default_client_threads(3), 2);
    }

    /// Answers held until written count per client and in all: a client at its own
    /// limit waits while another runs; everyone waits while the total is reached; each
    /// waiting job starts when enough is released.
    #[test]
    fn a_client_whose_answer_was_closed_late_waits_out_its_cooldown_while_others_run() {
        use crate::answer_memory::ClosedLate;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cooldown = Duration::from_millis(400);
        let pool = Arc::new(WorkerPool::new(2, 8).with_answer_memory(AnswerMemory {
            cooldown,
            ..AnswerMemory::DEFAULT
        }));
        let [a, b] = [1, 2].map(|i| Client::from_ip(IpAddr::from([10, 0, 0, i])));
        rt.block_on(async {
            // An answer given back normally: no cooldown.
            let (_, held) = pool.run_answer(a, || vec![0u8; 10]).await.unwrap();
            drop(held);
            assert!(!pool.cooling_off(&a));
            // Its connection closed late: a cools off, its next job waits while b's runs.
            let (_, mut held) = pool.run_answer(a, || vec![0u8; 10]).await.unwrap();
            held.closed_late();
            let closed = Instant::now();
            drop(held);
            assert!(pool.cooling_off(&a));
            assert_eq!(pool.held_answer_bytes(&a), (0, 0));
            let p = pool.clone();
            let next_a = tokio::spawn(async move { p.run_answer(a, || vec![1u8; 3]).await });
            assert!(wait_for(|| pool.waiting_of(&a) == 1));
            let (text, _) = pool.run_answer(b, || vec![2u8; 5]).await.unwrap();
            assert_eq!(text.len(), 5);
            assert!(!next_a.is_finished());
            // When the cooldown ends, a waiting worker starts a's job without being woken.
            let (text, _) = next_a.await.unwrap().unwrap();
            assert_eq!(text, [1u8; 3]);
            assert!(closed.elapsed() >= cooldown);
            assert!(!pool.cooling_off(&a));
        });
    }

    #[test]
    fn a_client_holding_its_answer_memory_waits_until_its_answers_are_released() {
        // Multi-threaded: the spawned callers submit while this thread polls the pool.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let pool = Arc::new(WorkerPool::new(2, 8).with_answer_memory(AnswerMemory {
            client: Some(100),
            total: Some(250),
            ..AnswerMemory::NONE
        }));
        let [a, b, c] = [1, 2, 3].map(|i| Client::from_ip(IpAddr::from([10, 0, 0, i])));
        rt.block_on(async {
            let (text, held_a) = pool.run_answer(a, || vec![0u8; 150]).await.unwrap();
            assert_eq!((text.len(), held_a.bytes()), (150, 150));
            assert_eq!(pool.held_answer_bytes(&a), (150, 150));
            let spawn = |client: Client, len: usize| {
                let p = pool.clone();
                tokio::spawn(async move { p.run_answer(client, move || vec![1u8; len]).await })
            };
            // a is at its own limit: its next job waits while b's runs.
            let next_a = spawn(a, 10);
            assert!(wait_for(|| pool.waiting_of(&a) == 1));
            let (_, held_b) = pool.run_answer(b, || vec![0u8; 120]).await.unwrap();
            assert_eq!(pool.held_answer_bytes(&b), (270, 120));
            // The total (270 of 250) does not hold c back, which holds nothing: its small
            // answer is handed over, a large one refused...
            let (small, held_c) = pool.run_answer(c, || vec![1u8; 1]).await.unwrap();
            assert_eq!(small, [1u8]);
            drop(held_c);
            let large = pool
                .run_answer(c, || vec![0u8; crate::answer_memory::SMALL_ANSWER + 1])
                .await;
            assert!(matches!(large, Err(PoolError::Busy)));
            // ...and then c waits for room like a client holding answers.
            let next_c = spawn(c, 1);
            assert!(wait_for(|| pool.waiting_of(&c) == 1));
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!((pool.waiting_of(&a), pool.waiting_of(&c)), (1, 1));
            // b's answer written: the total (150) lets c run, a is still at its own.
            drop(held_b);
            let (_, held_c2) = next_c.await.unwrap().unwrap();
            assert_eq!(pool.waiting_of(&a), 1);
            assert!(!next_a.is_finished());
            drop(held_a);
            let (_, held_a2) = next_a.await.unwrap().unwrap();
            assert_eq!(pool.held_answer_bytes(&a), (11, 10));
            drop((held_c2, held_a2));
            assert_eq!(pool.held_answer_bytes(&a), (0, 0));
            // Without limits nothing waits.
            pool.set_answer_memory(AnswerMemory::NONE);
            let (_, big) = pool.run_answer(a, || vec![0u8; 1000]).await.unwrap();
            let (_, more) = pool.run_answer(a, || vec![0u8; 1000]).await.unwrap();
            assert_eq!(pool.held_answer_bytes(&a), (2000, 2000));
            drop((big, more));
        });
    }

    #[test]
    fn a_client_over_its_budget_waits_while_others_run() {
        let now = Instant::now();
        let mut st = state_with(Budgets {
            client: Some(Duration::from_millis(250)),
            pool: None,
        });
        let (flooder, other) = (ip(1), ip(2));
        // One scan of a second: 0.25 s in the bucket, 0.75 s of debt, repaid in 3 s.
        charge(&mut st, flooder, 1, Duration::from_secs(1), now);
        queue_jobs(&mut st, flooder, 2);
        queue_jobs(&mut st, other, 1);
        assert_eq!(st.take(now, false).map(|x| x.0), Some(other));
        assert!(st.take(now, false).is_none(), "the flooder is in debt");
        assert_eq!(st.next_budget_refill(now), Some(Duration::from_secs(3)));
        let later = now + Duration::from_secs(3);
        assert_eq!(st.take(later, false).map(|x| x.0), Some(flooder));
        // Its next job waits for this one's charge, not for the refill alone.
        st.finished(flooder, ran(Duration::from_millis(500)), later);
        assert!(st.take(later, false).is_none());
        assert_eq!(st.next_budget_refill(later), Some(Duration::from_secs(2)));
    }

    #[test]
    fn budgets_charge_time_on_a_cpu_not_waits() {
        let now = Instant::now();
        let mut st = state_with(Budgets {
            client: Some(Duration::from_millis(250)),
            pool: Some(Duration::from_millis(250)),
        });
        let (waiter, other) = (ip(1), ip(2));
        // Five seconds waiting for work generated elsewhere, 2 ms of it on a CPU.
        queue_jobs(&mut st, waiter, 2);
        let (c, _) = st.take(now, false).unwrap();
        let waited = Used {
            held: Duration::from_secs(5),
            cpu: Duration::from_millis(2),
        };
        st.finished(c, waited, now);
        assert_eq!(st.take(now, false).map(|x| x.0), Some(waiter));
        // Its share of the workers still counts the wait: another client goes first.
        st.finished(waiter, ran(Duration::from_micros(300)), now);
        queue_jobs(&mut st, waiter, 1);
        queue_jobs(&mut st, other, 1);
        assert_eq!(st.take(now, false).map(|x| x.0), Some(other));
    }

    #[test]
    fn the_pool_budget_holds_back_heavy_clients_but_not_light_ones() {
        let now = Instant::now();
        let mut st = state_with(Budgets {
            client: None,
            pool: Some(Duration::from_millis(500)),
        });
        let flooders: Vec<Client> = (10..13).map(ip).collect();
        let (light, unnamed) = (ip(2), Client::Unnamed);
        charge(&mut st, light, 3, Duration::from_micros(300), now);
        // Three addresses, one scan each within no budget of their own: 1.2 s of the
        // pool's 0.5 s bucket, 0.7 s of debt (1.4 s to repay, plus the cheap calls').
        for &f in &flooders {
            queue_jobs(&mut st, f, 1);
        }
        for _ in &flooders {
            let (f, _) = st.take(now, false).unwrap();
            assert!(flooders.contains(&f));
        }
        for &f in &flooders {
            st.finished(f, ran(Duration::from_millis(400)), now);
            queue_jobs(&mut st, f, 1);
        }
        queue_jobs(&mut st, light, 1);
        queue_jobs(&mut st, unnamed, 1);
        let mut took: Vec<Client> = (0..2).map(|_| st.take(now, false).unwrap().0).collect();
        took.sort();
        assert_eq!(
            took,
            vec![light, unnamed],
            "light and in-process callers go on"
        );
        assert!(
            st.take(now, false).is_none(),
            "every flooder waits for the pool"
        );
        let refill = st.next_budget_refill(now).unwrap();
        assert!(
            refill > Duration::from_millis(1400) && refill < Duration::from_millis(1410),
            "{refill:?}"
        );
        assert!(flooders.contains(&st.take(now + refill, false).unwrap().0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_job_held_back_by_its_budget_starts_on_refill_or_when_the_budget_goes() {
        // A job of 20 ms on a CPU against 1 ms a second: about 19 s of debt.
        let tight = Budgets {
            client: Some(Duration::from_millis(1)),
            pool: None,
        };
        let pool = WorkerPool::new(2, 10).with_budgets(tight);
        assert_eq!(pool.budgets(), tight);
        let client = ip(1);
        let (tx, rx) = channel();
        let job = |n: u32| {
            let tx = tx.clone();
            move || {
                crate::thread_time::spin_cpu(Duration::from_millis(20));
                tx.send(n).unwrap();
            }
        };
        pool.try_spawn(client, job(1)).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(1));
        assert!(wait_for(|| pool.in_flight() == 1 || pool.in_flight() == 0));
        pool.try_spawn(client, job(2)).unwrap();
        // Two idle workers, yet the job waits: the debt takes 19 s to repay.
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)),
            Err(RecvTimeoutError::Timeout)
        );
        assert_eq!(pool.waiting_of(&client), 1);
        pool.set_budgets(Budgets::NONE);
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(2));
        // A budget that refills within a fraction of a second wakes a sleeping worker
        // by itself: 20 ms on a CPU against 100 ms a second is repaid in about 0.1 s.
        assert!(wait_for(|| pool.in_flight() == 0));
        pool.set_budgets(Budgets {
            client: Some(Duration::from_millis(100)),
            pool: Some(Duration::from_millis(100)),
        });
        for n in 3..6 {
            pool.try_spawn(client, job(n)).unwrap();
        }
        let mut got: Vec<u32> = (3..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, vec![3, 4, 5]);
        // Five jobs of 20 ms on a CPU each are charged at least that (each once its
        // worker is back from it, just after its answer).
        assert!(
            wait_for(|| pool.charged() >= Duration::from_millis(100)),
            "{:?}",
            pool.charged()
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::5".parse().unwrap();
        assert_eq!(Client::from_ip(a), Client::from_ip(b));
        assert_ne!(Client::from_ip(a), Client::from_ip(c));
        let mapped: IpAddr = "::ffff:127.0.0.7".parse().unwrap();
        assert_eq!(Client::from_ip(mapped), ip(7));
    }
}
