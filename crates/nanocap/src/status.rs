//! Live counters shared by the capture engine, the database writer and the web console.
//! Everything is atomic so the hot path never takes a lock to report progress.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Message type codes are 0..=255 on the wire; the console shows 0..32.
pub const TYPE_SLOTS: usize = 256;

/// Shared status. Cheap to read from any thread.
#[derive(Debug)]
pub struct Status {
    pub capturing: AtomicBool,
    pub importing: AtomicBool,
    pub max_db_size_reached: AtomicBool,
    /// Frames read from the file or interface.
    pub packets: AtomicU64,
    /// Nano messages decoded (realtime messages and bootstrap requests).
    pub messages: AtomicU64,
    /// Bootstrap stream entries decoded (frontiers, blocks, pending entries).
    pub stream_entries: AtomicU64,
    /// Frames or byte runs that could not be decoded.
    pub decode_errors: AtomicU64,
    /// Failed inserts.
    pub db_errors: AtomicU64,
    /// TCP flows closed by the analyzer because they were idle or the flow table was full.
    pub flows_evicted: AtomicU64,
    /// Times a flow's out-of-order buffer was released early (total buffer cap).
    pub flow_buffers_released: AtomicU64,
    /// Rows handed to the writer and not yet written.
    pub queue_rows: AtomicU64,
    /// Import progress: bytes read and file size.
    pub progress_bytes: AtomicU64,
    pub progress_total: AtomicU64,
    /// Decoded messages per type code.
    pub per_type: [AtomicU64; TYPE_SLOTS],
    /// Last libpcap statistics (received, dropped, if_dropped) of a stopped live capture.
    pub last_capture_stats: Mutex<Option<(u64, u64, u64)>>,
    /// Last error of the capture engine (e.g. interface could not be opened).
    pub last_error: Mutex<Option<String>>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            capturing: AtomicBool::new(false),
            importing: AtomicBool::new(false),
            max_db_size_reached: AtomicBool::new(false),
            packets: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            stream_entries: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            db_errors: AtomicU64::new(0),
            flows_evicted: AtomicU64::new(0),
            flow_buffers_released: AtomicU64::new(0),
            queue_rows: AtomicU64::new(0),
            progress_bytes: AtomicU64::new(0),
            progress_total: AtomicU64::new(0),
            per_type: std::array::from_fn(|_| AtomicU64::new(0)),
            last_capture_stats: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }
}

impl Status {
    /// Resets the counters that describe captured data (after "destroy").
    pub fn reset_counts(&self) {
        for c in &self.per_type {
            c.store(0, Ordering::Relaxed);
        }
        self.messages.store(0, Ordering::Relaxed);
        self.stream_entries.store(0, Ordering::Relaxed);
        self.decode_errors.store(0, Ordering::Relaxed);
    }
}
