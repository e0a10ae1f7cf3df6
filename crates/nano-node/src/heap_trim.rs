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
//!
//! It also fixes glibc's mmap threshold at [`MMAP_THRESHOLD`]: a large block (a
//! transient batch buffer, a table's slot array) then gets its own mapping, which its
//! free returns to the system at once, instead of a hole inside an arena.

use std::sync::OnceLock;
use std::time::Duration;

/// How often the free pages are given back. A trim locks one arena at a time and
/// walks its free lists (a few milliseconds at hundreds of MB); a page given back and
/// reused costs a page fault. Every few seconds keeps the RSS within seconds' worth of
/// the heap's churn of what is in use, at a cost far below 1% of a core.
pub const HEAP_TRIM_INTERVAL: Duration = Duration::from_secs(5);

/// Blocks at least this large get their own mapping (glibc's default start value).
/// glibc raises the threshold to the size of each mapped block freed (up to 32 MiB), so
/// after a few multi-MB buffers come and go every later one is carved from an arena
/// and its pages stay resident after the free, until a trim, as holes between live
/// blocks. Fixed here, the threshold stays put: measured on the 100,000-block
/// ascending sync from RsNano, the peak anonymous RSS fell from 44–46 MB to 36–37 MB
/// (mappings of 64 KiB and 512 KiB did no better), and at 1M from ~100 to ~84 MB. The
/// cost: a fresh mapping faults in every page it touches, where a reused arena block
/// did not; on the 1M bench about 5 s more system CPU per million blocks, the sync rate
/// equal within the machine's noise (see BENCHMARKS.md).
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] (which also stops glibc from
/// raising its trim threshold). False where the allocator has no such setting (not
/// glibc) or refused it.
pub fn fix_mmap_threshold() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` takes no pointers; it changes a setting under the main
        // arena's lock, safe at any time from any thread.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

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

/// Fixes the mmap threshold ([`fix_mmap_threshold`]) and starts the process-wide
/// trimming thread (once: later calls do nothing). The heap is the process's, not a
/// node's, so one thread serves every node a process runs. Returns false where there
/// is nothing to trim (not glibc) or the thread could not be started.
pub fn start_heap_trimmer() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return false;
        }
        fix_mmap_threshold();
        std::thread::Builder::new()
            .name("heap-trim".into())
            .spawn(|| loop {
                std::thread::sleep(HEAP_TRIM_INTERVAL);
                trim_heap();
            })
            .is_ok()
    })
}
