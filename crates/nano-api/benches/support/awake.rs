//! Keep-awake for the attack benches (`BENCH_AWAKE=1`): a child process with one busy
//! thread pinned to each CPU under `SCHED_IDLE`, running through every phase of a run
//! (quiet, attack, ceiling), so that no virtual CPU of this machine goes idle.
//!
//! Why: on this VM an idle virtual CPU halts, and waking it (a timer, a packet, a thread
//! made runnable on it) costs up to milliseconds when the host has descheduled it. A quiet
//! phase pays that wake-up on many probes and an attack that keeps the cores busy pays it
//! on fewer, so "p99 against quiet" mixed the attack's cost with the idle CPUs' wake-up
//! (BENCHMARKS.md, "Quiet measured awake"). With every CPU kept busy by a thread that any
//! other thread preempts at once, every phase wakes the same way.
//!
//! A `SCHED_IDLE` thread is preempted at once by a waking thread of the normal or batch
//! policies and otherwise gets a weight of 3 against 1,024 for a nice-0 thread (15 at
//! nice 19): it takes what the benches' threads leave, and a little (a few percent of a
//! core) from threads that run at nice 19 or under `SCHED_IDLE` themselves. The spinners
//! run in a child process so that no CPU figure of the bench process includes them. Needs
//! `support/competing.rs` as the bench's `competing` module.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::competing::thread_cpu;

/// Set (to anything but `0`) to run the keep-awake child through the whole run.
pub const ENV: &str = "BENCH_AWAKE";
/// Set in the child process: it runs the spinners instead of the bench.
const ROLE_ENV: &str = "BENCH_AWAKE_ROLE";
/// The child stops by itself after this long, whatever happens to the bench: longer than
/// any bench run with it (peering_attacks' rounds of 600 s windows take under an hour
/// per attack set).
const LIFE: Duration = Duration::from_secs(4 * 3600);
/// Pause instructions between two looks at the stop flag (a few microseconds).
const SPINS: u32 = 1_000;

/// The running keep-awake child.
pub struct KeepAwake {
    child: Child,
    started: Instant,
}

/// In the child process (its role set), runs the spinners until the parent closes the
/// child's stdin (or dies) and returns true: the caller's `main` then returns. False in
/// the bench process itself. Call first thing in `main`.
pub fn child_main() -> bool {
    if std::env::var_os(ROLE_ENV).is_none() {
        return false;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let spinners: Vec<_> = cpus()
        .into_iter()
        .map(|cpu| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("keep-awake-{cpu}"))
                .spawn(move || spin(cpu, &stop, started))
                .expect("keep-awake thread")
        })
        .collect();
    // The parent closes the pipe when it is done (or when it dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    stop.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let lines: Vec<String> = spinners
        .into_iter()
        .map(|h| match h.join() {
            Ok((cpu, Ok(used))) => format!("cpu{cpu} {:.3}", used.as_secs_f64() / secs),
            Ok((cpu, Err(e))) => format!("cpu{cpu} failed: {e}"),
            Err(_) => "panicked".into(),
        })
        .collect();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", lines.join(", "));
    let _ = out.flush();
    true
}

/// The CPUs this process may run on.
fn cpus() -> Vec<usize> {
    // SAFETY: a cpu_set_t is a plain bit set, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set outlives the call and its size is passed; pid 0 is this process.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu is below CPU_SETSIZE, the set's size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// One spinner: pinned to `cpu`, under `SCHED_IDLE`, busy until stopped; its CPU time.
fn spin(cpu: usize, stop: &AtomicBool, started: Instant) -> (usize, Result<Duration, String>) {
    // SAFETY: set outlives the calls; pid 0 is the calling thread.
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set)
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: param outlives the call; pid 0 is the calling thread.
    let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if pinned != 0 || idle != 0 {
        return (cpu, Err(std::io::Error::last_os_error().to_string()));
    }
    while !stop.load(Ordering::Relaxed) && started.elapsed() < LIFE {
        for _ in 0..SPINS {
            std::hint::spin_loop();
        }
    }
    (cpu, Ok(thread_cpu()))
}

/// Starts the keep-awake child when [`ENV`] asks for it (and says so on stdout).
pub fn from_env() -> Option<KeepAwake> {
    let on = std::env::var(ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    on.then(|| {
        let child = Command::new(std::env::current_exe().expect("this bench's path"))
            .env(ROLE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("keep-awake child");
        println!(
            "keep-awake: {} SCHED_IDLE spinners (one per CPU) in child {} through every phase",
            cpus().len(),
            child.id()
        );
        KeepAwake {
            child,
            started: Instant::now(),
        }
    })
}

impl KeepAwake {
    /// The child's CPU seconds so far (all spinners), from `/proc`.
    pub fn cpu(&self) -> f64 {
        let text =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let Some(close) = text.rfind(')') else {
            return 0.0;
        };
        // utime and stime are stat's fields 14 and 15, 12 and 13 after "pid (comm) ".
        let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        // USER_HZ is 100 on Linux.
        ticks(11)
            .zip(ticks(12))
            .map_or(0.0, |(u, s)| (u + s) / 100.0)
    }

    /// Stops the child; prints the cores each spinner got over the run.
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let mut line = String::new();
        if let Some(out) = self.child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let _ = self.child.wait();
        println!(
            "keep-awake over {:.0?}: cores per spinner: {}",
            self.started.elapsed(),
            line.trim()
        );
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        // Stopped without `stop` (a panic): the closed pipe ends the child.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
