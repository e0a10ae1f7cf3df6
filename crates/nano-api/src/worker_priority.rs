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
/// still get every cycle nobody else wants. Under the idle policy ([`DEFAULT_IDLE`]) that
/// policy's own weight applies instead; the nice value is kept for when it is turned off.
/// Elsewhere the priority cannot be set per thread, so the default leaves it alone.
pub const DEFAULT_NICE: u32 = if cfg!(target_os = "linux") { 10 } else { 0 };

/// Whether the slow-action workers run under `SCHED_IDLE` by default
/// (`slow_action_idle_policy` of config-rpc.toml). Under `SCHED_BATCH` at nice +10 a
/// request's thread that wakes on a core running a scan still waits for the scan's
/// protected slice (up to the scheduler's base slice, a few milliseconds) before it
/// runs, and the kernel does not count that core as free when it places the woken
/// thread; under `SCHED_IDLE` the woken thread preempts the scan at once and the core
/// counts as idle. What the scans lose: within the process they run only on cycles no
/// thread of normal policy wants (the kernel still gives them a sliver, weight 3 against
/// 1,024 at nice 0), so on a node whose block processor keeps every core busy, scans and
/// RPC work generation wait for it. Off by default: in the api_attacks bench on a shared
/// 2-core machine it showed no gain in the legitimate p99 under scan floods (BENCHMARKS.md,
/// "Slow-action workers under SCHED_IDLE"); on a quieter machine later it did cut the
/// floods' tails in one-round runs, as did keeping the workers off the first core, which
/// is the default instead since it keeps the scans' fair share on the other cores
/// (`nano_http::background_cpus`; BENCHMARKS.md, "Four ways to schedule the slow-pool
/// workers").
pub const DEFAULT_IDLE: bool = false;

/// The largest nice increment: Linux nice values end at 19, so more would be clamped.
pub const MAX_NICE: u32 = 19;

/// A thread's scheduling policy, as far as this module sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_OTHER`: the process's default.
    Normal,
    /// `SCHED_BATCH`: CPU-bound, does not preempt others when it wakes.
    Batch,
    /// `SCHED_IDLE`: runs on what threads of the other policies leave, preempted by any
    /// of them that wakes.
    Idle,
    /// Any other policy (real-time, deadline), set outside this module.
    Other(i32),
}

/// How far below the process a pool's threads run: `nice` steps, and `SCHED_IDLE`
/// instead of `SCHED_BATCH` when `idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lowering {
    pub nice: u32,
    pub idle: bool,
}

impl Lowering {
    /// The defaults of config-rpc.toml: [`DEFAULT_NICE`], [`DEFAULT_IDLE`].
    pub const DEFAULT: Lowering = Lowering {
        nice: DEFAULT_NICE,
        idle: DEFAULT_IDLE,
    };

    /// The thread's policy after [`lower_current_thread`] with this lowering.
    pub fn policy(&self) -> Policy {
        match (self.idle, self.nice) {
            (true, _) => Policy::Idle,
            (false, 0) => Policy::Normal,
            (false, _) => Policy::Batch,
        }
    }
}

/// Moves the calling thread to `SCHED_IDLE` when `lowering.idle`, else to `SCHED_BATCH`
/// (a CPU-bound thread that does not preempt others when it wakes) when `lowering.nice`
/// is not 0, and raises its nice value by `lowering.nice` (clamped to 19). With nice 0
/// and no idle policy the thread is left as it is. Neither needs privilege.
pub fn lower_current_thread(lowering: Lowering) -> std::io::Result<()> {
    match lowering.policy() {
        Policy::Normal => Ok(()),
        policy => imp::lower(lowering.nice.min(MAX_NICE) as i32, policy == Policy::Idle),
    }
}

/// The calling thread's nice value and policy (tests, diagnostics).
pub fn current_thread() -> std::io::Result<(i32, Policy)> {
    imp::current()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Policy;
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

    pub fn lower(nice: i32, idle: bool) -> std::io::Result<()> {
        let tid = tid();
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_BATCH
        };
        // SAFETY: pid 0 is the calling thread; param outlives the call.
        if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
            return Err(Error::last_os_error());
        }
        let target = (nice_of(tid)? + nice).min(19);
        // SAFETY: plain syscall on this thread's id.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, target) } != 0 {
            return Err(Error::last_os_error());
        }
        Ok(())
    }

    pub fn current() -> std::io::Result<(i32, Policy)> {
        // SAFETY: pid 0 is the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) };
        let policy = match policy {
            p if p < 0 => return Err(Error::last_os_error()),
            libc::SCHED_OTHER => Policy::Normal,
            libc::SCHED_BATCH => Policy::Batch,
            libc::SCHED_IDLE => Policy::Idle,
            p => Policy::Other(p),
        };
        Ok((nice_of(tid())?, policy))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Policy;

    fn unsupported() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "per-thread priority is set on Linux only",
        )
    }

    pub fn lower(_nice: i32, _idle: bool) -> std::io::Result<()> {
        Err(unsupported())
    }

    pub fn current() -> std::io::Result<(i32, Policy)> {
        Err(unsupported())
    }
}
