//! The cores the process's background threads run on: the slow-action workers (nano-api's
//! pool) and the large-answer thread (here) leave the first cores of the process's
//! allowed set to every other thread.
//!
//! Lowering those threads' priority is not enough on a small machine. Measured on 2 cores
//! under `receivable` floods (`perf sched`, BENCHMARKS.md, "Where a probe waits under the
//! `receivable` floods"), a request's thread woken on a core where a scan ran waited there
//! for milliseconds, behind the nice +10 `SCHED_BATCH` scan workers (69–70% of the time
//! waited) and the `SCHED_IDLE` large-answer thread (10–16%): the kernel let them finish
//! their time on that core first. With those threads kept off one core, a woken request
//! thread finds that core free of them: in separate runs of the binaries before and after,
//! alternated (two each, not one run with both sides), the median legitimate p99 under the
//! floods was 3.1–4.6 ms before and 0.5–3.6 ms after (8× lower under the 64-address flood
//! without budgets, 1.9× under the one-address flood with the default budgets, the others
//! within the runs' spread; BENCHMARKS.md, "Four ways to schedule the slow-pool workers").
//!
//! The cost: scans and large-answer writes use at most the other cores, so on 2 cores one
//! client's scans run at most on one core (with the default CPU budgets they take less
//! than that anyway), and on one core nothing is confined.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Cores left to the rest of the process by default (`slow_action_spare_cores` of
/// config-rpc.toml): one, the first of the allowed set. On the 2-core machine measured
/// that is half the machine kept from the scans; on larger machines it is one core of
/// many, which every request thread and the node's peering can find free.
pub const DEFAULT_SPARE_CORES: usize = 1;

static SPARE: AtomicUsize = AtomicUsize::new(DEFAULT_SPARE_CORES);

/// Sets the spare cores of background threads that start from now on (the large-answer
/// thread starts on the first large answer; a slow-action pool takes its own setting).
pub fn set_spare_cores(n: usize) {
    SPARE.store(n, Ordering::Relaxed);
}

/// The spare cores background threads started now leave free.
pub fn spare_cores() -> usize {
    SPARE.load(Ordering::Relaxed)
}

/// Confines the calling thread to the cores its affinity allows now, less the first
/// `spare` of them, and returns the cores it may run on afterwards. With `spare` 0, or no
/// more allowed cores than `spare`, the thread is left as it is.
pub fn confine_current_thread(spare: usize) -> std::io::Result<Vec<usize>> {
    let allowed = current_thread_cpus()?;
    if spare == 0 || allowed.len() <= spare {
        return Ok(allowed);
    }
    let kept = allowed[spare..].to_vec();
    imp::set(&kept)?;
    Ok(kept)
}

/// The cores the calling thread may run on, in ascending order.
pub fn current_thread_cpus() -> std::io::Result<Vec<usize>> {
    imp::get()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::Error;

    pub fn get() -> std::io::Result<Vec<usize>> {
        // SAFETY: an all-zero cpu_set_t is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid 0 is the calling thread; the size is the set's own.
        let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
        if r != 0 {
            return Err(Error::last_os_error());
        }
        // SAFETY: CPU_ISSET reads the set within its size (CPU_SETSIZE bits).
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect())
    }

    pub fn set(cpus: &[usize]) -> std::io::Result<()> {
        // SAFETY: an all-zero cpu_set_t is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cpus {
            // SAFETY: every c came from `get`, so it is below CPU_SETSIZE.
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        // SAFETY: pid 0 is the calling thread; the set outlives the call.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } != 0 {
            return Err(Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    fn unsupported() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "per-thread core sets are set on Linux only",
        )
    }

    pub fn get() -> std::io::Result<Vec<usize>> {
        Err(unsupported())
    }

    pub fn set(_cpus: &[usize]) -> std::io::Result<()> {
        Err(unsupported())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A confined thread keeps every allowed core but the first `spare`; none are taken
    /// when that would leave it no core. Each case in a thread of its own, whose affinity
    /// starts as this process's.
    #[test]
    fn a_confined_thread_leaves_the_first_cores() {
        let allowed = current_thread_cpus().unwrap();
        assert!(!allowed.is_empty());
        for spare in [0, 1, allowed.len()] {
            let expected = match spare {
                0 => allowed.clone(),
                s if s >= allowed.len() => allowed.clone(),
                s => allowed[s..].to_vec(),
            };
            let (kept, now) = std::thread::spawn(move || {
                let kept = confine_current_thread(spare).unwrap();
                (kept, current_thread_cpus().unwrap())
            })
            .join()
            .unwrap();
            assert_eq!(kept, expected, "spare {spare}");
            assert_eq!(now, expected, "spare {spare}");
        }
        // This thread was not touched.
        assert_eq!(current_thread_cpus().unwrap(), allowed);
    }
}
