//! Bounded pools of worker threads: a fixed set of OS threads fed by one bounded queue,
//! started on first use, that refuse a job at once when full. The context holds two: the
//! pool that runs slow actions ([`crate::actions::Action::slow`]: ledger and wallet
//! scans, key derivation, work, waiting for the block processor) for every front door
//! that dispatches RPC v1 actions (HTTP and IPC), and the wallet work precomputation
//! queue ([`crate::work_generation::PRECOMPUTE_QUEUE`]).
//!
//! In the daemon the API servers and the node's peering share one Tokio runtime. A
//! `receivable` over 200,000 blocks or a `ledger` walk on that runtime's workers (or on
//! its blocking pool, which grows to 512 threads with an unbounded queue) competes with
//! keepalives and votes; here it competes only with other slow actions. When every worker
//! is busy and the queue is full, the request is answered at once with [`BUSY`]: a flood
//! of slow calls costs the attacker a refusal, not the node memory or a hang.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

/// The answer when the slow-action pool cannot take another request.
pub const BUSY: &str = "Too many slow requests in progress (slow_action_threads and slow_action_queue of config-rpc.toml are full); try again later";

/// Slow requests waiting for a worker by default. A slow action takes milliseconds to
/// seconds; with this many queued, a new one would wait tens of seconds behind them on a
/// small machine, and a client is better served by a prompt refusal it can retry.
pub const DEFAULT_QUEUE: usize = 256;

/// Slow-action workers by default: the reference's `background_threads` default (which serves its
/// RPC handling), max(4, cores), so a few long work generations do not block every scan.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(4)
}

/// Why a job did not run to an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker busy and the queue full.
    Busy,
    /// The job panicked, or the workers could not be started.
    Failed,
}

type Job = Box<dyn FnOnce() + Send>;

/// The workers and their queue.
pub struct WorkerPool {
    threads: usize,
    queue: usize,
    tx: OnceLock<Option<SyncSender<Job>>>,
    /// Jobs accepted and not yet finished (queued or running).
    in_flight: Arc<AtomicUsize>,
}

impl Default for WorkerPool {
    fn default() -> Self {
        WorkerPool::new(default_threads(), DEFAULT_QUEUE)
    }
}

impl WorkerPool {
    /// A pool of `threads` workers (at least one) and `queue` waiting slots; nothing
    /// starts until the first job.
    pub fn new(threads: usize, queue: usize) -> WorkerPool {
        WorkerPool {
            threads: threads.max(1),
            queue,
            tx: OnceLock::new(),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Jobs queued or running now (tests, diagnostics).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<&SyncSender<Job>> {
        self.tx
            .get_or_init(|| {
                // Actions that drive the node's async API (forced `process`, dialing a
                // peer) need the runtime of the server that started the pool.
                let rt = tokio::runtime::Handle::try_current().ok();
                let (tx, rx) = sync_channel::<Job>(self.threads + self.queue);
                let rx = Arc::new(Mutex::new(rx));
                for i in 0..self.threads {
                    let (rx, rt) = (rx.clone(), rt.clone());
                    let spawned = std::thread::Builder::new()
                        .name(format!("rpc slow {i}"))
                        .spawn(move || {
                            let _in_runtime = rt.as_ref().map(|h| h.enter());
                            work(&rx)
                        });
                    if let Err(e) = spawned {
                        tracing::error!("cannot start slow-action worker: {e}");
                        if i == 0 {
                            return None;
                        }
                    }
                }
                Some(tx)
            })
            .as_ref()
    }

    /// Admits one job (refusing when threads + queue are in flight) and queues the job
    /// `make` builds around the admission's [`Done`].
    fn submit(&self, make: impl FnOnce(Done) -> Job) -> Result<(), PoolError> {
        let tx = self.sender().ok_or(PoolError::Failed)?;
        // Admission counts jobs, not channel slots: a job sent but not yet picked up by a
        // worker that is still starting must not make the pool refuse early.
        let limit = self.threads + self.queue;
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(PoolError::Busy);
        }
        match tx.try_send(make(Done(self.in_flight.clone()))) {
            Ok(()) => Ok(()),
            // The channel holds threads + queue jobs, so only gone workers end here; the
            // job never ran: undo its count here.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(PoolError::Failed)
            }
        }
    }

    /// Queues `job` without waiting for it; refuses at once when the pool is full.
    pub fn try_spawn(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolError> {
        self.submit(|done| {
            Box::new(move || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                done.finish();
            })
        })
    }

    /// Runs `job` on a worker and waits (asynchronously) for its result; refuses at once
    /// when the pool is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.submit(|done| {
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

/// One admitted job's place in the in-flight count, given back when it ends.
struct Done(Arc<AtomicUsize>);

impl Done {
    fn finish(self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One worker: takes jobs until the pool (holding the sender) is dropped.
fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
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
                    p.run(move || {
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
            assert_eq!(pool.run(|| 1).await, Err(PoolError::Busy));
            for _ in 0..5 {
                release_tx.send(()).unwrap();
            }
            for w in waiting {
                assert_eq!(w.await.unwrap(), Ok(7));
            }
            assert_eq!(pool.in_flight(), 0);
            assert_eq!(pool.run(|| 2).await, Ok(2));
        });
    }

    #[test]
    fn spawned_jobs_beyond_threads_plus_queue_are_refused() {
        let pool = WorkerPool::new(1, 2);
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..3 {
            let r = release_rx.clone();
            pool.try_spawn(move || {
                let _ = r.lock().unwrap().recv();
            })
            .unwrap();
        }
        assert_eq!(pool.try_spawn(|| {}), Err(PoolError::Busy));
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
        assert_eq!(pool.try_spawn(|| {}), Ok(()));
    }

    #[test]
    fn a_panicking_job_fails_its_caller_and_keeps_the_worker() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = WorkerPool::new(1, 1);
        rt.block_on(async {
            let r: Result<(), _> = pool.run(|| panic!("job failed")).await;
            assert_eq!(r, Err(PoolError::Failed));
            assert_eq!(pool.run(|| 3).await, Ok(3));
            assert_eq!(pool.in_flight(), 0);
        });
    }
}
