//! The queue behind `process` with `async`: blocks wait in a bounded queue for one
//! worker thread that hands them to the node, instead of one OS thread per call. The
//! worker enters the Tokio runtime of the server that created it, so forced processing
//! (which drives the node's async API) works from it too.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use nano_core::Block;

use crate::context::NodeHandle;

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

type Job = (Arc<dyn NodeHandle>, Block, bool);

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
                        while let Ok((node, block, force)) = rx.recv() {
                            let _in_runtime = rt.enter();
                            if let Err(status) = node.process(block, force) {
                                tracing::debug!("async process: {status}");
                            }
                        }
                    })
                    .ok()?;
                Some(tx)
            })
            .as_ref()
    }

    /// Queues `block` for `node.process(block, force)`.
    pub fn submit(
        &self,
        node: Arc<dyn NodeHandle>,
        block: Block,
        force: bool,
    ) -> Result<(), QueueError> {
        let tx = self.sender().ok_or(QueueError::Unavailable)?;
        tx.try_send((node, block, force)).map_err(|e| match e {
            TrySendError::Full(_) => QueueError::Full,
            TrySendError::Disconnected(_) => QueueError::Unavailable,
        })
    }
}
