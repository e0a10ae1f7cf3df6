//! The time a slow-action job held its worker thread: the wall time less what the thread
//! spent runnable but waiting for a CPU (Linux's per-thread `schedstat`). The pool
//! charges clients, and decides who may use its light lane, by this time: on a machine
//! whose cores are busy (scans at a lower priority, other processes) a cheap lookup that
//! was preempted for 30 ms still counts as the fraction of a millisecond it ran, while a
//! call that sleeps (waiting for work or the block processor) counts its whole wait,
//! since it keeps the thread from anyone else meanwhile.
//!
//! The budgets ([`crate::cpu_budget`]) charge a job its time on a CPU instead (the
//! same file's first figure): they bound what scans cost the machine, and a job that
//! sleeps (waiting for work generated on the work pool, which has its own bounds, or for
//! the block processor) costs it next to nothing.
//!
//! Where `schedstat` cannot be read (another system, a kernel without it) the wall time
//! is used for both, as before.

use std::time::{Duration, Instant};

/// Reads one thread's run-queue wait.
pub struct ThreadClock {
    #[cfg(target_os = "linux")]
    schedstat: Option<std::fs::File>,
}

/// A job's start: when, and the thread's (time on a CPU, run-queue wait) then.
pub struct Mark {
    at: Instant,
    figures: Option<(Duration, Duration)>,
}

/// What a job used of its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    /// The time it held the thread, less its waits for a CPU.
    pub held: Duration,
    /// Its time on a CPU.
    pub cpu: Duration,
}

impl ThreadClock {
    /// A clock for the calling thread (it reads only that thread's figures, wherever it
    /// is used).
    pub fn for_current_thread() -> ThreadClock {
        ThreadClock {
            #[cfg(target_os = "linux")]
            schedstat: std::fs::File::open("/proc/thread-self/schedstat").ok(),
        }
    }

    /// The thread's total (time on a CPU, time runnable but not running) so far.
    fn figures(&self) -> Option<(Duration, Duration)> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::FileExt;
            let file = self.schedstat.as_ref()?;
            // Three decimal numbers: a few dozen bytes.
            let mut buf = [0u8; 128];
            let n = file.read_at(&mut buf, 0).ok()?;
            parse_figures(std::str::from_utf8(&buf[..n]).ok()?)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    pub fn start(&self) -> Mark {
        Mark {
            at: Instant::now(),
            figures: self.figures(),
        }
    }

    /// What the thread was used for since `mark`.
    pub fn used_since(&self, mark: &Mark) -> Used {
        let wall = mark.at.elapsed();
        match (mark.figures, self.figures()) {
            (Some((cpu0, wait0)), Some((cpu1, wait1))) => Used {
                held: wall.saturating_sub(wait1.saturating_sub(wait0)),
                cpu: cpu1.saturating_sub(cpu0).min(wall),
            },
            _ => Used {
                held: wall,
                cpu: wall,
            },
        }
    }

    /// The time the thread was held since `mark`, less its waits for a CPU.
    pub fn held_since(&self, mark: &Mark) -> Duration {
        self.used_since(mark).held
    }
}

/// (time on a CPU, run-queue wait) of a `schedstat` text: "<ns on CPU> <ns waiting>
/// <slices>".
fn parse_figures(text: &str) -> Option<(Duration, Duration)> {
    let mut words = text.split_whitespace();
    let mut next = || -> Option<Duration> {
        let ns = words.next()?.parse::<u64>().ok()?;
        Some(Duration::from_nanos(ns))
    };
    let cpu = next()?;
    Some((cpu, next()?))
}

/// Runs on a CPU until this thread has used `cpu` of it (however long that takes on
/// a busy machine).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn spin_cpu(cpu: Duration) {
    let clock = ThreadClock::for_current_thread();
    let mark = clock.start();
    let mut x = 0u64;
    while clock.used_since(&mark).cpu < cpu {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_text_gives_cpu_time_and_wait() {
        assert_eq!(
            parse_figures("123456 7890 12\n"),
            Some((Duration::from_nanos(123456), Duration::from_nanos(7890)))
        );
        assert_eq!(parse_figures("123456\n"), None);
        assert_eq!(parse_figures("1 x 2"), None);
    }

    #[test]
    fn a_sleeping_job_counts_its_sleep_and_no_job_counts_more_than_its_wall_time() {
        let clock = ThreadClock::for_current_thread();
        #[cfg(target_os = "linux")]
        assert!(clock.figures().is_some(), "schedstat unreadable");
        let mark = clock.start();
        let wall = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let used = clock.used_since(&mark);
        assert!(used.held >= Duration::from_millis(30), "{used:?}");
        assert!(
            used.held <= wall.elapsed() + Duration::from_millis(1),
            "{used:?}"
        );
        // Asleep, the thread was on a CPU for a small part of it.
        #[cfg(target_os = "linux")]
        assert!(used.cpu < used.held, "{used:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_spinning_job_counts_its_time_on_a_cpu() {
        let clock = ThreadClock::for_current_thread();
        let mark = clock.start();
        spin_cpu(Duration::from_millis(20));
        let used = clock.used_since(&mark);
        assert!(used.cpu >= Duration::from_millis(20), "{used:?}");
    }
}
