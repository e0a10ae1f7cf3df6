//! Where a legitimate request's time goes inside the node, for `API_ATTACKS_STAGES=1`
//! (off by default: nothing is recorded and no layer is added without it). The prober
//! stamps its side (start, connected, request written, answer read to the end); a layer
//! inside the node's router stamps the handler's start and end for requests from the
//! prober's address; the server runtime's park hooks keep, per worker, since when it has
//! been running. A probe slower than [`SLOW`] is then split into: connect, request
//! written to handler start (accept, connection task, head and body read: time spent
//! waiting for a worker), the handler (parse, dispatch, ledger reads, the pool), and
//! handler end to the last byte read (hyper writing the answer, close, the prober's read).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Environment variable turning the stage stamps on.
pub const ENV: &str = "API_ATTACKS_STAGES";
/// Probes slower than this are split into stages.
pub const SLOW: Duration = Duration::from_millis(1);
/// The prober's source address (see the bench's `post`).
const PROBER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

static ON: AtomicBool = AtomicBool::new(false);
/// Per server worker: since when it has run without parking (`None`: parked).
static WORKERS: Mutex<Vec<(ThreadId, Option<Instant>)>> = Mutex::new(Vec::new());
/// The last probe's handler stamps, taken by the prober after its answer.
static LAST: Mutex<Option<Handler>> = Mutex::new(None);

/// Whether [`ENV`] is set; reads it once, at the start.
pub fn enable_from_env() -> bool {
    let on = std::env::var(ENV).is_ok_and(|v| v == "1");
    ON.store(on, Ordering::Relaxed);
    on
}

pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

fn mark(running: bool) {
    if !on() {
        return;
    }
    let me = std::thread::current().id();
    let mut w = WORKERS.lock().unwrap();
    let since = running.then(Instant::now);
    match w.iter_mut().find(|(id, _)| *id == me) {
        Some(e) => e.1 = since,
        None => w.push((me, since)),
    }
}

/// The server runtime's `on_thread_park` hook.
pub fn parked() {
    mark(false);
}

/// The server runtime's `on_thread_unpark` hook.
pub fn unparked() {
    mark(true);
}

/// The node's side of one probe.
#[derive(Clone, Copy)]
struct Handler {
    entry: Instant,
    exit: Instant,
    /// How long the worker running the handler had run without parking when it started
    /// the handler (the tasks it ran first).
    own_run: Duration,
    /// The other workers: the longest any had run without parking at that moment, and
    /// whether all were running.
    others_run: Duration,
    others_all_busy: bool,
}

/// Router layer: stamps handlers of the prober's requests.
pub async fn layer(req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if peer != Some(PROBER) {
        return next.run(req).await;
    }
    let entry = Instant::now();
    let me = std::thread::current().id();
    let (mut own_run, mut others_run, mut all_busy) = (Duration::ZERO, Duration::ZERO, true);
    for (id, since) in WORKERS.lock().unwrap().iter() {
        let ran = since.map(|s| entry.saturating_duration_since(s));
        if *id == me {
            own_run = ran.unwrap_or_default();
        } else {
            others_run = others_run.max(ran.unwrap_or_default());
            all_busy &= ran.is_some();
        }
    }
    let resp = next.run(req).await;
    *LAST.lock().unwrap() = Some(Handler {
        entry,
        exit: Instant::now(),
        own_run,
        others_run,
        others_all_busy: all_busy,
    });
    resp
}

/// The prober's stamps of one probe.
pub struct Client {
    pub start: Instant,
    pub connected: Instant,
    pub sent: Instant,
    pub done: Instant,
}

/// Sums over the slow probes of one phase.
#[derive(Default)]
pub struct Split {
    probes: usize,
    slow: usize,
    /// Slow probes without the node's stamps (a ceiling phase, or a refusal before the
    /// router).
    unstamped: usize,
    connect: Duration,
    to_handler: Duration,
    handler: Duration,
    after: Duration,
    /// Slow probes by their largest stage: connect, to handler, handler, after.
    largest: [usize; 4],
    /// Slow probes whose wait for the handler was over [`SLOW`] / 2, and of those: the
    /// ones where the handler's worker had run over [`SLOW`] / 2 before, and the ones
    /// where every other worker was running at that moment.
    waited: usize,
    waited_own_busy: usize,
    waited_others_busy: usize,
}

impl Split {
    /// Adds one probe (call after its answer was read).
    pub fn add(&mut self, c: &Client) {
        self.probes += 1;
        let h = LAST.lock().unwrap().take();
        if c.done - c.start <= SLOW {
            return;
        }
        self.slow += 1;
        let Some(h) = h.filter(|h| h.entry >= c.sent.min(c.connected)) else {
            self.unstamped += 1;
            return;
        };
        let stages = [
            c.connected - c.start,
            h.entry.saturating_duration_since(c.sent),
            h.exit - h.entry,
            c.done.saturating_duration_since(h.exit),
        ];
        self.connect += stages[0];
        self.to_handler += stages[1];
        self.handler += stages[2];
        self.after += stages[3];
        let top = (0..4).max_by_key(|&i| stages[i]).unwrap_or(0);
        self.largest[top] += 1;
        if stages[1] > SLOW / 2 {
            self.waited += 1;
            self.waited_own_busy += usize::from(h.own_run > SLOW / 2);
            self.waited_others_busy += usize::from(h.others_all_busy);
        }
    }

    /// One line, empty when no probe was stamped.
    pub fn describe(&self) -> String {
        let n = (self.slow - self.unstamped).max(1) as u32;
        if self.slow == self.unstamped {
            return String::new();
        }
        format!(
            "stages of the {} probes over {SLOW:?} (of {}): mean connect {:?}, written to handler {:?}, \
             handler {:?}, handler end to last byte {:?}; largest stage connect/wait/handler/after: {:?}; \
             {} waited over {:?} for the handler, of which the handler's worker had run over that \
             before taking it: {}, every other worker was running: {}",
            self.slow,
            self.probes,
            self.connect / n,
            self.to_handler / n,
            self.handler / n,
            self.after / n,
            self.largest,
            self.waited,
            SLOW / 2,
            self.waited_own_busy,
            self.waited_others_busy,
        )
    }
}
