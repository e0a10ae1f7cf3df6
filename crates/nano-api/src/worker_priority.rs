//! The CPU priority of the slow-action workers: lowered below the threads that drive
//! peering and answer inline RPC, so a flood of scans takes the CPU those leave idle
//! instead of a share equal to theirs.
//!
//! Linux keeps a nice value and a scheduling policy per thread, so one pool's workers can
//! be lowered without touching the rest of the process. The reference node does this for
//! its proof-of-work threads only (it moves them to `SCHED_BATCH`); its I/O and
//! background threads, which run its RPC handling, keep the process's priority.

/// Nice steps the slow-action workers sit below the process by default
/// (`slow_action_nice` of config-rpc.toml). At +10 the kernel gives a busy worker about a
/// tenth of the CPU weight of a busy thread at the process's own priority, so two cores
/// full of scans leave the runtime's threads nearly all the time they ask for; the scans
/// still get every cycle nobody else wants.
/// Elsewhere the priority cannot be set per thread, so the default leaves it alone.
pub const DEFAULT_NICE: u32 = if cfg!(target_os = "linux") { 10 } else { 0 };

/// The largest nice increment: Linux nice values end at 19, so more would be clamped.
pub const MAX_NICE: u32 = 19;

/// Moves the calling thread to `SCHED_BATCH` (a CPU-bound thread that does not preempt
/// others when it wakes) and raises its nice value by `nice` (clamped to 19). With `nice`
/// 0 the thread is left as it is. Raising nice needs no privilege.
pub fn lower_current_thread(nice: u32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    imp::lower(nice.min(MAX_NICE) as i32)
}

/// The calling thread's nice value and whether it is under `SCHED_BATCH` (tests,
/// diagnostics).
pub fn current_thread() -> std::io::Result<(i32, bool)> {
    imp::current()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::Error;

    fn tid() -> libc::id_t {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
    }

    /// The nice value of thread `tid`; -1 is a valid value, so errno tells a failure.
    fn nice_of(tid: libc::id_t) -> std::io::Result<i32> {
        // SAFETY: errno is thread-local; getpriority reads only its arguments.
        unsafe {
            *libc::__errno_location() = 0;
            let n = libc::getpriority(libc::PRIO_PROCESS, tid);
            if n == -1 && *libc::__errno_location() != 0 {
                return Err(Error::last_os_error());
            }
            Ok(n)
        }
    }

    pub fn lower(nice: i32) -> std::io::Result<()> {
        let tid = tid();
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; param outlives the call.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
            return Err(Error::last_os_error());
        }
        let target = (nice_of(tid)? + nice).min(19);
        // SAFETY: plain syscall on this thread's id.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, target) } != 0 {
            return Err(Error::last_os_error());
        }
        Ok(())
    }

    pub fn current() -> std::io::Result<(i32, bool)> {
        // SAFETY: pid 0 is the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) };
        if policy < 0 {
            return Err(Error::last_os_error());
        }
        Ok((nice_of(tid())?, policy == libc::SCHED_BATCH))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    fn unsupported() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "per-thread priority is set on Linux only",
        )
    }

    pub fn lower(_nice: i32) -> std::io::Result<()> {
        Err(unsupported())
    }

    pub fn current() -> std::io::Result<(i32, bool)> {
        Err(unsupported())
    }
}
