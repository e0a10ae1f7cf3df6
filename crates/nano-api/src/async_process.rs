//! The queue behind `process` with `async`: blocks wait in a bounded queue for one
//! worker thread that hands them to the node, instead of one OS thread per call. The
//! queue holds the jobs as closures (the caller says what handing over means), so it
//! needs nothing from the context that owns it. The worker runs inside the Tokio runtime
//! of the server that created it, so a job may use the node's async API.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Blocks waiting for the worker. The block processor behind it has its own, larger
/// queue; this one only absorbs bursts of async submissions, and a client submitting
/// faster than the node processes gets an error instead of growing memory.
pub const ASYNC_PROCESS_QUEUE: usize = 1024;

/// Why a block could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    Full,
    /// Not on a Tokio runtime, or the worker is gone.
    Unavailable,
}

/// One queued hand-over of a block to the node.
type Job = Box<dyn FnOnce() + Send>;

/// The queue and its worker (started on first use).
#[derive(Default)]
pub struct AsyncProcessor {
    tx: std::sync::OnceLock<Option<SyncSender<Job>>>,
}

impl AsyncProcessor {
    fn sender(&self) -> Option<&SyncSender<Job>> {
        self.tx
            .get_or_init(|| {
                let rt = tokio::runtime::Handle::try_current().ok()?;
                let (tx, rx) = sync_channel::<Job>(ASYNC_PROCESS_QUEUE);
                std::thread::Builder::new()
                    .name("rpc async process".into())
                    .spawn(move || {
                        // Ends when the context (holding the sender) is dropped.
                        while let Ok(job) = rx.recv() {
                            let _in_runtime = rt.enter();
                            job();
                        }
                    })
                    .ok()?;
                Some(tx)
            })
            .as_ref()
    }

    /// Queues `job` (one block's hand-over to the node) for the worker.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), QueueError> {
        let tx = self.sender().ok_or(QueueError::Unavailable)?;
        tx.try_send(Box::new(job)).map_err(|e| match e {
            TrySendError::Full(_) => QueueError::Full,
            TrySendError::Disconnected(_) => QueueError::Unavailable,
        })
    }
}
