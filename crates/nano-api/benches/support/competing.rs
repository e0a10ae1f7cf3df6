//! Competing CPU load, measured and reproduced, for the attack benches' ceilings: what the
//! threads of a process used during a phase (CPU seconds per second, with each thread's
//! nice value and scheduling policy), and spinning threads that take the same CPU at the
//! same nice value and policy while a bare server is probed, so that the bare server
//! faces the CPU competition the node faced during the attack on this machine.
//!
//! A spinner, once its thread's own CPU clock is behind its share of the time since it
//! started, spins in a burst as long as its use's mean time slice (the attack's scan
//! workers hold a CPU for milliseconds at a time, which a woken thread waits behind) and
//! sleeps while ahead; it catches up at most [`MAX_DEBT`] of time it was kept off the
//! CPU: like the attack's threads it gets what the scheduler gives it, which it reports
//! next to what it asked for.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One thread's figures from `/proc/<pid>/task/<tid>/`.
#[derive(Clone, Debug)]
pub struct ThreadStat {
    pub tid: u32,
    pub name: String,
    /// Time on a CPU so far (`schedstat`'s first field, in nanoseconds).
    pub cpu: Duration,
    /// Times it was given a CPU so far (`schedstat`'s third field).
    pub slices: u64,
    pub nice: i32,
    /// The kernel's policy number: 0 `SCHED_OTHER`, 3 `SCHED_BATCH`, 5 `SCHED_IDLE`.
    pub policy: i32,
}

/// The threads of process `pid` ("self" for this one) now; empty when it is gone.
pub fn threads(pid: &str) -> Vec<ThreadStat> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let sched = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        // Fields after "pid (comm) ": the state is field 3 of stat, so field n is at n - 3.
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i32>().ok());
        let sched: Vec<u64> = sched
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if let (Some(nice), Some(policy), &[ns, _, slices]) = (field(19), field(41), &sched[..]) {
            out.push(ThreadStat {
                tid,
                name: stat[open + 1..close].to_string(),
                cpu: Duration::from_nanos(ns),
                slices,
                nice,
                policy,
            });
        }
    }
    out
}

/// A thread's use of the CPU over a window: what a spinner reproduces.
#[derive(Clone, Debug)]
pub struct Use {
    /// Whose: the process's label and the thread's name.
    pub who: String,
    pub nice: i32,
    pub policy: i32,
    /// CPU seconds per second of the window.
    pub cores: f64,
    /// Its mean time on a CPU each time it got one: a scan worker holds the CPU for
    /// milliseconds at a time, a thread answering small requests for microseconds, and a
    /// woken thread waits behind the first kind longer.
    pub slice: Duration,
}

/// Each thread's CPU seconds per second between `before` and `after` (the same process)
/// over `window`, labelled `process`; threads that started during the window count from 0.
pub fn uses(
    process: &str,
    before: &[ThreadStat],
    after: &[ThreadStat],
    window: Duration,
) -> Vec<Use> {
    let secs = window.as_secs_f64().max(1e-9);
    after
        .iter()
        .map(|a| {
            let (cpu, slices) = before
                .iter()
                .find(|b| b.tid == a.tid)
                .map_or((Duration::ZERO, 0), |b| (b.cpu, b.slices));
            let cpu = a.cpu.saturating_sub(cpu);
            let slices = a.slices.saturating_sub(slices).max(1);
            Use {
                who: format!("{process} {}", a.name),
                nice: a.nice,
                policy: a.policy,
                cores: cpu.as_secs_f64() / secs,
                slice: cpu / u32::try_from(slices).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

/// `uses` summed by who, nice value and policy, as one line.
pub fn describe(uses: &[Use]) -> String {
    let mut groups: Vec<(String, i32, i32, f64, usize, Duration)> = Vec::new();
    for u in uses {
        // Thread names differ by a number at the end within one pool.
        let who = u
            .who
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        match groups
            .iter_mut()
            .find(|g| g.0 == who && g.1 == u.nice && g.2 == u.policy)
        {
            Some(g) => {
                g.3 += u.cores;
                g.4 += 1;
                g.5 = g.5.max(u.slice);
            }
            None => groups.push((who.to_string(), u.nice, u.policy, u.cores, 1, u.slice)),
        }
    }
    groups
        .iter()
        .map(|(who, nice, policy, cores, n, slice)| {
            format!(
                "{who} x{n} (nice {nice}, {}) {cores:.3}, mean slice up to {slice:.1?}",
                policy_name(*policy)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn policy_name(policy: i32) -> &'static str {
    match policy {
        0 => "normal",
        3 => "batch",
        5 => "idle",
        _ => "other",
    }
}

/// How far a spinner may fall behind its share and still catch up: a thread of the
/// attack that wants the CPU (a scan worker) takes it back as soon as it runs again after
/// a preemption, but one that was kept off for long does not get the lost time back.
/// A few of the attack's bursts (a 13 MB answer written or read in a few milliseconds, a
/// scan of about 27 ms).
pub const MAX_DEBT: Duration = Duration::from_millis(50);

/// The longest a spinner sleeps before it looks at its share again.
pub const PERIOD: Duration = Duration::from_millis(10);

/// Bounds of a spinner's burst (its use's mean slice).
pub const BURST: (Duration, Duration) = (Duration::from_micros(50), Duration::from_millis(50));

/// Running spinners.
pub struct Spinners {
    stop: Arc<AtomicBool>,
    handles: Vec<(Use, JoinHandle<Result<Duration, String>>)>,
    started: Instant,
}

/// The calling thread's CPU time (its own CPU clock).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts outlives the call; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Moves the calling thread to `policy` and nice value `nice` (absolute; raising it
/// needs no privilege, lowering below the process's does, and fails).
fn set_priority(nice: i32, policy: i32) -> Result<(), String> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; param outlives the call.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(format!(
            "policy {policy}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: gettid has no arguments; setpriority acts on that thread only.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
        return Err(format!("nice {nice}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Starts one spinner per use of at least `floor` cores, each at its use's nice value and
/// policy and at most one core; every spinner stops by itself after `life`.
pub fn spin(uses: &[Use], floor: f64, life: Duration) -> Spinners {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles = uses
        .iter()
        .filter(|u| u.cores >= floor)
        .map(|u| {
            let (use_, stop) = (u.clone(), stop.clone());
            let cores = u.cores.min(1.0);
            // Spun ahead of its share by this much before it sleeps: alone on a core, a
            // burst as long as the use's mean slice.
            let ahead = u.slice.clamp(BURST.0, BURST.1).mul_f64(1.0 - cores);
            let handle = std::thread::Builder::new()
                .name("spinner".into())
                .spawn(move || {
                    set_priority(use_.nice, use_.policy)?;
                    let (begin, start) = (thread_cpu(), Instant::now());
                    let mut forgiven = Duration::ZERO;
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) && started.elapsed() < life {
                        let due = start.elapsed().mul_f64(cores).saturating_sub(forgiven);
                        let used = thread_cpu() - begin;
                        if due > used + MAX_DEBT {
                            forgiven += due - used - MAX_DEBT;
                        }
                        if due > used {
                            // One burst: until ahead of the share (or stopped, or too far
                            // behind to catch up).
                            while !stop.load(Ordering::Relaxed) {
                                // About 10-50 µs of work between two looks at the clocks.
                                for i in 0..20_000u64 {
                                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                                }
                                let due = start.elapsed().mul_f64(cores).saturating_sub(forgiven);
                                let used = thread_cpu() - begin;
                                if used >= due + ahead || due > used + MAX_DEBT {
                                    break;
                                }
                            }
                        } else {
                            std::thread::sleep((used - due).div_f64(cores).min(PERIOD));
                        }
                    }
                    Ok(thread_cpu() - begin)
                })
                .expect("spinner thread");
            (u.clone(), handle)
        })
        .collect();
    Spinners {
        stop,
        handles,
        started,
    }
}

impl Spinners {
    /// Stops the spinners; per spinner, what it reproduced and the cores it got (or why
    /// it could not take its priority).
    pub fn stop(self) -> Vec<(Use, Result<f64, String>)> {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.handles
            .into_iter()
            .map(|(u, h)| {
                let got = h
                    .join()
                    .unwrap_or_else(|_| Err("panicked".into()))
                    .map(|cpu| cpu.as_secs_f64() / secs);
                (u, got)
            })
            .collect()
    }
}
