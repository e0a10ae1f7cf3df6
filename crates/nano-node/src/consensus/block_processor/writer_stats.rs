//! What the writer thread spends per write batch, split by phase: waiting for work,
//! opening the write transaction, processing the batch (blocks and cementing), the
//! LMDB commit (page writes, fsync, meta page), and the work after it. For the
//! bootstrap bench (RPC does not carry these): the sync's pace is the writer's, and
//! these say whether a slower batch is CPU, page faults or waits for the disk.
//!
//! Each phase is measured with the wall clock and with the thread's own resource usage
//! (`getrusage(RUSAGE_THREAD)`: user and system CPU, minor and major page faults,
//! voluntary switches = times the thread blocked, involuntary ones = preemptions, and
//! the bytes it dirtied in the page cache). Two `getrusage` calls per phase per batch,
//! about a microsecond each, against a commit's fsync of milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The thread's resource usage at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    user_ns: u64,
    sys_ns: u64,
    minflt: u64,
    majflt: u64,
    vcsw: u64,
    ivcsw: u64,
    /// Bytes this thread dirtied in the page cache (`ru_oublock`, 512-byte units): counted
    /// when a cached folio becomes dirty, the whole folio, so on a file system caching in
    /// large folios (ext4 on recent kernels) a 4 KiB write counts up to the folio's size;
    /// an upper bound of what writeback sends to the disk, not the bytes written.
    out_bytes: u64,
}

impl Usage {
    /// The calling thread's usage now (zero where `getrusage` is unavailable).
    pub(crate) fn now() -> Usage {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `getrusage` writes the struct it is given and nothing else.
            let mut r: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut r) } == 0 {
                let ns =
                    |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
                return Usage {
                    user_ns: ns(r.ru_utime),
                    sys_ns: ns(r.ru_stime),
                    minflt: r.ru_minflt as u64,
                    majflt: r.ru_majflt as u64,
                    vcsw: r.ru_nvcsw as u64,
                    ivcsw: r.ru_nivcsw as u64,
                    out_bytes: r.ru_oublock as u64 * 512,
                };
            }
        }
        Usage::default()
    }
}

/// One phase's totals since the node started.
#[derive(Default)]
pub(crate) struct PhaseTotals {
    wall_ns: AtomicU64,
    user_ns: AtomicU64,
    sys_ns: AtomicU64,
    minflt: AtomicU64,
    majflt: AtomicU64,
    vcsw: AtomicU64,
    ivcsw: AtomicU64,
    out_bytes: AtomicU64,
}

/// A started phase: the clock and usage at its start.
pub(crate) struct PhaseStart {
    at: Instant,
    usage: Usage,
}

impl PhaseStart {
    pub(crate) fn now() -> PhaseStart {
        PhaseStart {
            at: Instant::now(),
            usage: Usage::now(),
        }
    }
}

impl PhaseTotals {
    /// Adds the phase from `start` to now; returns now, the start of the next phase.
    pub(crate) fn end(&self, start: &PhaseStart) -> PhaseStart {
        let now = PhaseStart::now();
        let (a, b) = (&start.usage, &now.usage);
        let add = |c: &AtomicU64, v: u64| c.fetch_add(v, Ordering::Relaxed);
        add(&self.wall_ns, (now.at - start.at).as_nanos() as u64);
        add(&self.user_ns, b.user_ns.saturating_sub(a.user_ns));
        add(&self.sys_ns, b.sys_ns.saturating_sub(a.sys_ns));
        add(&self.minflt, b.minflt.saturating_sub(a.minflt));
        add(&self.majflt, b.majflt.saturating_sub(a.majflt));
        add(&self.vcsw, b.vcsw.saturating_sub(a.vcsw));
        add(&self.ivcsw, b.ivcsw.saturating_sub(a.ivcsw));
        add(&self.out_bytes, b.out_bytes.saturating_sub(a.out_bytes));
        now
    }

    fn fields(&self, name: &str, out: &mut Vec<(String, u64)>) {
        for (k, c) in [
            ("wall_ns", &self.wall_ns),
            ("user_ns", &self.user_ns),
            ("sys_ns", &self.sys_ns),
            ("minflt", &self.minflt),
            ("majflt", &self.majflt),
            ("vcsw", &self.vcsw),
            ("ivcsw", &self.ivcsw),
            ("out_bytes", &self.out_bytes),
        ] {
            out.push((format!("{name}.{k}"), c.load(Ordering::Relaxed)));
        }
    }
}

/// The writer's totals since the node started, by phase.
#[derive(Default)]
pub(crate) struct WriterStats {
    /// Waiting for checked blocks, confirmations or forced blocks (the queue empty).
    pub(crate) idle: PhaseTotals,
    /// Opening the write transaction (waits for another writer of the file).
    pub(crate) begin: PhaseTotals,
    /// The batch's blocks and cementing, inside the transaction.
    pub(crate) process: PhaseTotals,
    /// `commit`: LMDB writes the dirty pages, syncs the file, writes the meta page.
    pub(crate) commit: PhaseTotals,
    /// Answers, events, elections and released gap blocks after the commit.
    pub(crate) after: PhaseTotals,
    /// Write transactions committed.
    pub(crate) commits: AtomicU64,
    /// Blocks taken through committed transactions (whatever their outcome).
    pub(crate) blocks: AtomicU64,
    /// The most blocks one committed transaction took (see `batch_bound`).
    pub(crate) largest_batch: AtomicU64,
}

impl WriterStats {
    /// Every counter as `(name, value)`, phases as `<phase>.<field>`.
    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            ("commits".to_string(), self.commits.load(Ordering::Relaxed)),
            ("blocks".to_string(), self.blocks.load(Ordering::Relaxed)),
            (
                "largest_batch".to_string(),
                self.largest_batch.load(Ordering::Relaxed),
            ),
        ];
        for (name, p) in [
            ("idle", &self.idle),
            ("begin", &self.begin),
            ("process", &self.process),
            ("commit", &self.commit),
            ("after", &self.after),
        ] {
            p.fields(name, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_counts_its_own_cpu_and_wall_time() {
        let s = WriterStats::default();
        let start = PhaseStart::now();
        // Busy until the thread has used 5 ms of CPU (bounded by 10 s of wall time).
        let cpu = |u: Usage| u.user_ns + u.sys_ns;
        let spin = Instant::now();
        let mut x = 0u64;
        while cpu(Usage::now()) - cpu(start.usage) < 5_000_000
            && spin.elapsed() < std::time::Duration::from_secs(10)
        {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        s.process.end(&start);
        let snap: std::collections::HashMap<String, u64> = s.snapshot().into_iter().collect();
        let used = snap["process.user_ns"] + snap["process.sys_ns"];
        assert!(used >= 5_000_000, "{snap:?}");
        assert!(snap["process.wall_ns"] > 0, "{snap:?}");
        assert_eq!(snap["commit.wall_ns"], 0);
        assert_eq!(snap["commits"], 0);
    }
}
