//! The time a slow-action job held its worker thread: the wall time less what the thread
//! spent runnable but waiting for a CPU (Linux's per-thread `schedstat`). The pool
//! charges clients, and decides who may use its light lane, by this time: on a machine
//! whose cores are busy (scans at a lower priority, other processes) a cheap lookup that
//! was preempted for 30 ms still counts as the fraction of a millisecond it ran, while a
//! call that sleeps (waiting for work or the block processor) counts its whole wait,
//! since it keeps the thread from anyone else meanwhile.
//!
//! Where `schedstat` cannot be read (another system, a kernel without it) the wall time
//! is used, as before.

use std::time::{Duration, Instant};

/// Reads one thread's run-queue wait.
pub struct ThreadClock {
    #[cfg(target_os = "linux")]
    schedstat: Option<std::fs::File>,
}

/// A job's start: when, and the thread's run-queue wait then.
pub struct Mark {
    at: Instant,
    waited: Option<Duration>,
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

    /// The thread's total time runnable but not running so far.
    fn run_queue_wait(&self) -> Option<Duration> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::FileExt;
            let file = self.schedstat.as_ref()?;
            // Three decimal numbers: a few dozen bytes.
            let mut buf = [0u8; 128];
            let n = file.read_at(&mut buf, 0).ok()?;
            parse_wait(std::str::from_utf8(&buf[..n]).ok()?)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    pub fn start(&self) -> Mark {
        Mark {
            at: Instant::now(),
            waited: self.run_queue_wait(),
        }
    }

    /// The time the thread was held since `mark`, less its waits for a CPU.
    pub fn held_since(&self, mark: &Mark) -> Duration {
        let wall = mark.at.elapsed();
        match (mark.waited, self.run_queue_wait()) {
            (Some(then), Some(now)) => wall.saturating_sub(now.saturating_sub(then)),
            _ => wall,
        }
    }
}

/// The run-queue wait of a `schedstat` text: "<ns on CPU> <ns waiting> <slices>".
fn parse_wait(text: &str) -> Option<Duration> {
    let ns = text.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_text_gives_the_wait() {
        assert_eq!(
            parse_wait("123456 7890 12\n"),
            Some(Duration::from_nanos(7890))
        );
        assert_eq!(parse_wait("123456\n"), None);
        assert_eq!(parse_wait("1 x 2"), None);
    }

    #[test]
    fn a_sleeping_job_counts_its_sleep_and_no_job_counts_more_than_its_wall_time() {
        let clock = ThreadClock::for_current_thread();
        #[cfg(target_os = "linux")]
        assert!(clock.run_queue_wait().is_some(), "schedstat unreadable");
        let mark = clock.start();
        let wall = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let held = clock.held_since(&mark);
        assert!(held >= Duration::from_millis(30), "{held:?}");
        assert!(
            held <= wall.elapsed() + Duration::from_millis(1),
            "{held:?}"
        );
    }
}
