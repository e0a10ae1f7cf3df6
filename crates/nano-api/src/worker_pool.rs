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
//! is busy and the queue is full, the request is answered at once with [`BUSY`]: a flood
//! of slow calls costs the attacker a refusal, not the node memory or a hang.
//!
//! Waiting jobs are queued per [`Client`] (the node's one [`FairQueue`]), each client's
//! queue with its own bound, and a free worker takes the next client's job in turn: a
//! client flooding slow calls fills only its own queue (then is refused), and another
//! client's call waits at most for one running call to end, not for the flood.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use nano_node::consensus::fair_queue::{FairQueue, Rejected, SourceLimits};

/// The answer when the slow-action pool cannot take another request.
pub const BUSY: &str = "Too many slow requests in progress (slow_action_threads, slow_action_queue or this client's slow_action_client_queue of config-rpc.toml are full); try again later";

/// Slow requests waiting for a worker by default. A slow action takes milliseconds to
/// seconds; with this many queued, a new one would wait tens of seconds behind them on a
/// small machine, and a client is better served by a prompt refusal it can retry.
pub const DEFAULT_QUEUE: usize = 256;

/// Slow requests one client may have waiting by default. A wallet or exchange backend
/// that checks balances concurrently keeps 32 calls in the pipeline before it is refused,
/// while at least eight clients are needed to fill [`DEFAULT_QUEUE`]: one host alone can
/// never lock the others out of the queue.
pub const DEFAULT_CLIENT_QUEUE: usize = 32;

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

type Job = Box<dyn FnOnce() + Send>;

/// What the workers share: the waiting jobs and the signal that one arrived.
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

struct State {
    waiting: FairQueue<Client, Job>,
    /// Set when the pool is dropped: workers finish what is queued, then exit.
    closed: bool,
}

/// The workers and their queues.
pub struct WorkerPool {
    threads: usize,
    queue: usize,
    client_queue: usize,
    shared: OnceLock<Option<Arc<Shared>>>,
    /// Jobs accepted and not yet finished (queued or running).
    in_flight: Arc<AtomicUsize>,
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
    /// one).
    pub fn with_client_queue(threads: usize, queue: usize, client_queue: usize) -> WorkerPool {
        WorkerPool {
            threads: threads.max(1),
            queue,
            client_queue: client_queue.max(1),
            shared: OnceLock::new(),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
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
                let client_queue = self.client_queue;
                let limits = move |_: &Client| SourceLimits {
                    max: client_queue,
                    priority: 1,
                };
                let shared = Arc::new(Shared {
                    state: Mutex::new(State {
                        // Admission already holds the total to threads + queue.
                        waiting: FairQueue::new(self.threads + self.queue, Box::new(limits)),
                        closed: false,
                    }),
                    ready: Condvar::new(),
                });
                for i in 0..self.threads {
                    let (shared, rt) = (shared.clone(), rt.clone());
                    let spawned = std::thread::Builder::new()
                        .name(format!("rpc slow {i}"))
                        .spawn(move || {
                            let _in_runtime = rt.as_ref().map(|h| h.enter());
                            work(&shared)
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

    /// Admits one job of `client` (refusing when threads + queue are in flight, or the
    /// client's queue is full) and queues the job `make` builds around the admission's
    /// [`Done`].
    fn submit(&self, client: Client, make: impl FnOnce(Done) -> Job) -> Result<(), PoolError> {
        let shared = self.shared().ok_or(PoolError::Failed)?;
        // Admission counts jobs, queued or running: a job queued but not yet picked up by
        // a worker that is still starting must not make the pool refuse early.
        let limit = self.threads + self.queue;
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(PoolError::Busy);
        }
        let job = make(Done(self.in_flight.clone()));
        let queued = match shared.state.lock() {
            Ok(mut st) if !st.closed => {
                st.waiting.push(client, job).map_err(|(_, why)| match why {
                    Rejected::SourceFull | Rejected::GlobalFull => PoolError::Busy,
                })
            }
            _ => Err(PoolError::Failed),
        };
        match queued {
            Ok(()) => {
                shared.ready.notify_one();
                Ok(())
            }
            Err(e) => {
                // The job never ran: undo its count here.
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    /// Queues `job` for `client` without waiting for it; refuses at once when the pool or
    /// the client's queue is full.
    pub fn try_spawn(
        &self,
        client: Client,
        job: impl FnOnce() + Send + 'static,
    ) -> Result<(), PoolError> {
        self.submit(client, |done| {
            Box::new(move || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                done.finish();
            })
        })
    }

    /// Runs `job` for `client` on a worker and waits (asynchronously) for its result;
    /// refuses at once when the pool or the client's queue is full.
    pub async fn run<T, F>(&self, client: Client, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.submit(client, |done| {
            Box::new(move || {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                // Before the answer goes out, so a caller that got it sees the count drop.
                done.finish();
                if let Ok(v) = out {
                    let _ = done_tx.send(v);
                }
            })
        })?;
        done_rx.await.map_err(|_| PoolError::Failed)
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

/// One worker: takes the next client's job in turn until the pool is dropped and its
/// queues are empty.
fn work(shared: &Shared) {
    loop {
        let job = {
            let Ok(mut st) = shared.state.lock() else {
                return;
            };
            loop {
                if let Some((client, job)) = st.waiting.pop() {
                    // A client's queue goes once it is empty, so the map holds only
                    // clients with jobs waiting (at most threads + queue of them).
                    if st.waiting.len_of(&client) == 0 {
                        st.waiting.retain_sources(|c| *c != client);
                    }
                    break job;
                }
                if st.closed {
                    return;
                }
                st = match shared.ready.wait(st) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

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
            assert_eq!(pool.run(Client::Unnamed, || 1).await, Err(PoolError::Busy));
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

    #[test]
    fn two_flooding_clients_take_turns() {
        let pool = WorkerPool::with_client_queue(1, 100, 50);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (a, b) = (ip(1), ip(2));
        gated(&pool, &[a], &order, &gate);
        assert!(wait_for(|| order.lock().unwrap().len() == 1));
        gated(&pool, &[a; 5], &order, &gate);
        gated(&pool, &[b; 5], &order, &gate);
        for _ in 0..11 {
            release.send(()).unwrap();
        }
        assert!(wait_for(|| pool.in_flight() == 0));
        let order = order.lock().unwrap();
        assert_eq!(
            order[..],
            [a, b, a, b, a, b, a, b, a, b, a],
            "one call of each client in turn"
        );
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
