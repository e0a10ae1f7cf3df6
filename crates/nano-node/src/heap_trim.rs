//! Giving the allocator's free memory back to the system while the process runs.
//!
//! glibc's malloc keeps memory freed inside its arenas for reuse and returns it to the
//! system only from the top of the main heap. During a long sync the node's
//! containers grow, reallocate (a hash table's old slots are freed when it doubles)
//! and shrink again, so the process keeps the most it ever held: measured on the 10M
//! ascending sync, 80–100 MB of the anonymous RSS was free space inside the arenas.
//! `malloc_trim(0)` hands every whole free page of every arena back (`madvise`), so a
//! thread calls it every [`HEAP_TRIM_INTERVAL`]. Other allocators (and other C
//! libraries) have no such call: there it does nothing.

use std::sync::OnceLock;
use std::time::Duration;

/// How often the free pages are given back. A trim locks one arena at a time and
/// walks its free lists (a few milliseconds at hundreds of MB); a page given back and
/// reused costs a page fault. Every few seconds keeps the RSS within seconds' worth of
/// the heap's churn of what is in use, at a cost far below 1% of a core.
pub const HEAP_TRIM_INTERVAL: Duration = Duration::from_secs(5);

/// Gives the allocator's whole free pages back to the system now. False where the
/// allocator has no such call (not glibc) or nothing could be given back.
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes no pointers; it only locks glibc's arenas in turn
        // and releases free pages, which is safe at any time from any thread.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Starts the process-wide trimming thread (once: later calls do nothing). The heap is
/// the process's, not a node's, so one thread serves every node a process runs.
/// Returns false where there is nothing to trim (not glibc) or the thread could not be
/// started.
pub fn start_heap_trimmer() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return false;
        }
        std::thread::Builder::new()
            .name("heap-trim".into())
            .spawn(|| loop {
                std::thread::sleep(HEAP_TRIM_INTERVAL);
                trim_heap();
            })
            .is_ok()
    })
}
