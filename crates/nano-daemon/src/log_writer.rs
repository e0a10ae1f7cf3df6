//! The log writer: log events leave the thread that logged them (an RPC request's
//! thread, a node thread) through a bounded queue, and one thread of its own formats
//! them and writes the lines to the sinks (standard output or error, the rotating file)
//! in batches.
//!
//! The logging thread keeps only the event's fields, rendered once
//! ([`crate::log_format::QueueLayer`]); the writer thread formats each sink's line from
//! them (time, level, target) and makes the write system calls: before, each line was
//! formatted once per sink on the logging thread and written with one `write(2)` per
//! line per sink; now a few writes per [`FLUSH_INTERVAL`].
//!
//! **When the writer falls behind** (a sink slower than the node logs, e.g. a full disk
//! or a terminal that is not read), a thread that logs waits for room in the queue: the
//! overflow policy of spdlog's async logger by default ("block"). Lines are an
//! operator's record (`rpc.logging.log_rpc` asks for every request), so none is dropped;
//! the worst case is the old synchronous behaviour, with memory held to
//! [`LOG_QUEUE_LINES`] lines and [`LOG_QUEUE_BYTES`] bytes. How many lines had to wait is
//! counted and written to the log by the writer itself (at most once per
//! [`WAIT_REPORT_INTERVAL`], and when it stops).
//!
//! **What is written when**: a line reaches its sink at most [`FLUSH_INTERVAL`] after it
//! was logged, a warning or error line (and everything before it) at once; the file's
//! buffered lines also go out before it rotates. [`LogWriter::finish`] writes and
//! flushes every line queued before it was called (a clean shutdown loses none); a
//! crash loses at most the lines of the last interval. Lines logged after `finish`
//! are not written.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::writer::MakeWriter;

use crate::log_file::RotatingFile;
use crate::log_format::{write_line, Clock, LineStyle, LogEvent, QueueLayer};

/// Lines the queue holds before a thread that logs waits: the default queue size of
/// spdlog's async logger; at the ~20k request lines per second seen under `wrk` it is
/// ~0.4 s of lines, far more than one flush interval.
pub const LOG_QUEUE_LINES: usize = 8192;

/// Bytes the queue holds before a thread that logs waits: a request's log line can be
/// as long as the request (up to the RPC's body limit), so the line count alone does
/// not bound memory. A single line longer than this is still taken when the queue is
/// empty (it waits for the queue to drain, never forever).
pub const LOG_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// How long a written line may sit in a sink's buffer before it is flushed: short
/// enough that a watching operator sees lines as they happen, long enough that a busy
/// node's lines go out a buffer at a time.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// The console's buffer between flushes; standard output would otherwise write each
/// line on its own (it is line-buffered).
const CONSOLE_BUFFER_BYTES: usize = 64 * 1024;

/// How often at most the writer reports that lines waited for room in the queue.
pub const WAIT_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Where the writer thread writes one sink's lines.
pub enum Sink {
    Stdout,
    Stderr,
    File(RotatingFile),
    /// Any other writer (tests: a sink that can be held up).
    Other(Box<dyn Write + Send>),
}

/// How much the queue holds before a thread that logs waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lines: usize,
    pub bytes: usize,
}

impl Bounds {
    pub const DEFAULT: Bounds = Bounds {
        lines: LOG_QUEUE_LINES,
        bytes: LOG_QUEUE_BYTES,
    };
}

enum Record {
    /// A line already formatted, for one sink.
    Line { sink: usize, bytes: Vec<u8> },
    /// An event, written to every sink in its style.
    Event(LogEvent),
}

impl Record {
    fn size(&self) -> usize {
        match self {
            Record::Line { bytes, .. } => bytes.len(),
            Record::Event(e) => e.size(),
        }
    }
}

struct State {
    records: VecDeque<Record>,
    bytes: usize,
    /// Lines that waited for room, since the start.
    waited: u64,
    flush_requested: u64,
    flushed: u64,
    stop: bool,
    /// The writer sleeps until woken (nothing was written in its last interval).
    idle: bool,
    /// The writer was woken and has not taken the queue yet.
    woken: bool,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// The writer waits here for lines, a flush request or the stop.
    wake_writer: Condvar,
    /// Threads that log wait here for room; [`LogWriter::flush`] waits here too.
    room: Condvar,
    bounds: Bounds,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, sink: usize, urgent: bool, line: &[u8]) {
        let bytes = line.to_vec();
        self.push_record(Record::Line { sink, bytes }, urgent);
    }

    pub(crate) fn push_event(&self, event: LogEvent) {
        let urgent = event.urgent();
        self.push_record(Record::Event(event), urgent);
    }

    fn push_record(&self, record: Record, urgent: bool) {
        let size = record.size();
        let mut g = self.lock();
        let mut counted = false;
        while !g.stop
            && (g.records.len() >= self.bounds.lines
                || (g.bytes > 0 && g.bytes.saturating_add(size) > self.bounds.bytes))
        {
            if !counted {
                counted = true;
                g.waited += 1;
            }
            g = self.room.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        if g.stop {
            return;
        }
        g.bytes += size;
        g.records.push_back(record);
        // The writer runs on its own every FLUSH_INTERVAL while lines come in; a line
        // only wakes it (a futex call and a switch) when it sleeps idle, for a warning
        // or error, or at half the bounds, so it is woken at most once per batch.
        if !g.woken
            && (g.idle
                || urgent
                || g.records.len() >= self.bounds.lines / 2
                || g.bytes >= self.bounds.bytes / 2)
        {
            self.wake(&mut g);
        }
    }

    fn wake(&self, g: &mut State) {
        g.woken = true;
        self.wake_writer.notify_one();
    }
}

/// The queue and its writer thread. Dropping it without [`LogWriter::finish`] stops the
/// writer the same way.
pub struct LogWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer thread for `sinks`, each writing events in its style (a line
    /// queued through [`LogWriter::sink`] names its sink by index).
    pub fn start(sinks: Vec<(Sink, LineStyle)>, bounds: Bounds) -> io::Result<LogWriter> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                records: VecDeque::new(),
                bytes: 0,
                waited: 0,
                flush_requested: 0,
                flushed: 0,
                stop: false,
                idle: false,
                woken: false,
            }),
            wake_writer: Condvar::new(),
            room: Condvar::new(),
            bounds,
        });
        let outs = sinks
            .into_iter()
            .map(|(s, style)| (Out::new(s), style))
            .collect();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log writer".into())
            .spawn(move || write_loop(&s, outs))?;
        Ok(LogWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// The `tracing` layer whose events this writer writes to every sink.
    pub fn layer(&self) -> QueueLayer {
        QueueLayer {
            shared: self.shared.clone(),
        }
    }

    /// A `tracing_subscriber` writer of ready lines for the sink at `index`.
    pub fn sink(&self, index: usize) -> QueueWriter {
        QueueWriter {
            shared: self.shared.clone(),
            sink: index,
        }
    }

    /// Waits (at most `timeout`) until every line queued before the call is written and
    /// flushed; false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.lock();
        if g.stop {
            return true;
        }
        g.flush_requested += 1;
        let target = g.flush_requested;
        self.shared.wake(&mut g);
        while g.flushed < target && !g.stop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .shared
                .room
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Lines that waited for room in the queue so far.
    pub fn waited(&self) -> u64 {
        self.shared.lock().waited
    }

    /// Writes and flushes every line queued so far, stops the writer thread and returns
    /// how many lines waited for room over the writer's life.
    pub fn finish(mut self) -> u64 {
        self.stop()
    }

    fn stop(&mut self) -> u64 {
        {
            let mut g = self.shared.lock();
            g.stop = true;
            self.shared.wake(&mut g);
            self.shared.room.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.lock().waited
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

/// One sink's end of the queue, for `tracing_subscriber::fmt::layer().with_writer(..)`:
/// each formatted event (one `write` call) becomes one queued line.
#[derive(Clone)]
pub struct QueueWriter {
    shared: Arc<Shared>,
    sink: usize,
}

/// The writer of one event.
pub struct QueuedLine<'a> {
    to: &'a QueueWriter,
    urgent: bool,
}

impl Write for QueuedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.to.shared.push(self.to.sink, self.urgent, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        QueuedLine {
            to: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        QueuedLine {
            to: self,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

/// A sink as the writer thread holds it.
enum Out {
    Console { stderr: bool, buf: Vec<u8> },
    File { file: RotatingFile, reported: bool },
    Other(Box<dyn Write + Send>),
}

impl Out {
    fn new(s: Sink) -> Out {
        match s {
            Sink::Stdout => Out::Console {
                stderr: false,
                buf: Vec::new(),
            },
            Sink::Stderr => Out::Console {
                stderr: true,
                buf: Vec::new(),
            },
            Sink::File(file) => Out::File {
                file,
                reported: false,
            },
            Sink::Other(w) => Out::Other(w),
        }
    }

    fn write(&mut self, line: &[u8]) {
        match self {
            Out::Console { buf, .. } => {
                buf.extend_from_slice(line);
                if buf.len() >= CONSOLE_BUFFER_BYTES {
                    self.flush();
                }
            }
            Out::File { file, reported } => {
                if let Err(e) = file.append(line) {
                    report_file_error(file, reported, &e);
                }
            }
            Out::Other(w) => {
                let _ = w.write_all(line);
            }
        }
    }

    fn flush(&mut self) {
        match self {
            Out::Console { stderr, buf } => {
                // A closed console (a pipe whose reader left) is not the node's
                // problem: its lines are dropped.
                if *stderr {
                    let mut e = io::stderr().lock();
                    let _ = e.write_all(buf).and_then(|_| e.flush());
                } else {
                    let mut o = io::stdout().lock();
                    let _ = o.write_all(buf).and_then(|_| o.flush());
                }
                buf.clear();
                if buf.capacity() > CONSOLE_BUFFER_BYTES * 2 {
                    buf.shrink_to(CONSOLE_BUFFER_BYTES);
                }
            }
            Out::File { file, reported } => {
                let mut f: &RotatingFile = file;
                if let Err(e) = f.flush() {
                    report_file_error(file, reported, &e);
                }
            }
            Out::Other(w) => {
                let _ = w.flush();
            }
        }
    }
}

fn report_file_error(file: &RotatingFile, reported: &mut bool, e: &io::Error) {
    if !*reported {
        *reported = true;
        eprintln!(
            "Warning: cannot write the log file {}: {e}; later errors are not reported",
            file.path().display()
        );
    }
}

/// The report of lines that waited, in the shape of the other log lines.
fn wait_report(new: u64, total: u64, bounds: Bounds) -> Vec<u8> {
    use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
    let mut time = String::new();
    let _ = SystemTime.format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut time));
    format!(
        "{time}  WARN log_writer: {new} log line(s) waited for room in the log queue ({total} since start; it holds {} lines or {} bytes): the log sinks are slower than the node logs\n",
        bounds.lines, bounds.bytes
    )
    .into_bytes()
}

fn write_loop(shared: &Shared, mut outs: Vec<(Out, LineStyle)>) {
    let mut batch: VecDeque<Record> = VecDeque::new();
    let mut clock = Clock::default();
    let mut line = Vec::new();
    // While lines come in, the writer wakes on its own at this time.
    let mut next_round: Option<Instant> = None;
    let mut reported_waited = 0u64;
    let mut last_report: Option<Instant> = None;
    loop {
        let (stop, flush_target, flush_pending, waited) = {
            let mut g = shared.lock();
            loop {
                if g.woken || g.stop {
                    break;
                }
                match next_round {
                    Some(due) => {
                        let now = Instant::now();
                        if now >= due {
                            break;
                        }
                        g = shared
                            .wake_writer
                            .wait_timeout(g, due - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    None if !g.records.is_empty() => break,
                    None => {
                        g.idle = true;
                        g = shared
                            .wake_writer
                            .wait(g)
                            .unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
            g.idle = false;
            g.woken = false;
            std::mem::swap(&mut batch, &mut g.records);
            g.bytes = 0;
            shared.room.notify_all();
            (
                g.stop,
                g.flush_requested,
                g.flush_requested > g.flushed,
                g.waited,
            )
        };
        let wrote = !batch.is_empty();
        for r in batch.drain(..) {
            match r {
                Record::Line { sink, bytes } => {
                    if let Some((out, _)) = outs.get_mut(sink) {
                        out.write(&bytes);
                    }
                }
                Record::Event(e) => {
                    for (out, style) in outs.iter_mut() {
                        line.clear();
                        write_line(&mut line, &mut clock, &e, *style);
                        out.write(&line);
                    }
                }
            }
        }
        if line.capacity() > CONSOLE_BUFFER_BYTES {
            line = Vec::new();
        }
        let mut report = false;
        if waited > reported_waited
            && (stop || last_report.is_none_or(|t| t.elapsed() >= WAIT_REPORT_INTERVAL))
        {
            let line = wait_report(waited - reported_waited, waited, shared.bounds);
            for (out, _) in outs.iter_mut() {
                out.write(&line);
            }
            reported_waited = waited;
            last_report = Some(Instant::now());
            report = true;
        }
        // Every round that wrote flushes: rounds come at most once per interval (or
        // per half-full queue), so a busy node's lines go out a buffer at a time.
        if wrote || report || stop || flush_pending {
            for (out, _) in outs.iter_mut() {
                out.flush();
            }
            let mut g = shared.lock();
            g.flushed = g.flushed.max(flush_target);
            shared.room.notify_all();
        }
        if stop {
            return;
        }
        // Lines came in: look again after an interval instead of being woken per line.
        next_round = wrote.then(|| Instant::now() + FLUSH_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A sink that collects what reaches it, and can be held up.
    #[derive(Clone, Default)]
    struct Collect {
        text: Arc<Mutex<Vec<u8>>>,
        held: Arc<AtomicBool>,
    }

    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // Bounded: a test that forgets to release fails instead of hanging.
            for _ in 0..2_000 {
                if !self.held.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            self.text.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Collect {
        fn text(&self) -> String {
            String::from_utf8(self.text.lock().unwrap().clone()).unwrap()
        }
    }

    fn send(w: &QueueWriter, line: &str) {
        w.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn finish_writes_every_line_queued_from_every_thread_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = RotatingFile::open(dir.path(), "node", 0, 0).unwrap();
        let w =
            LogWriter::start(vec![(Sink::File(file), LineStyle::FILE)], Bounds::DEFAULT).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let q = w.sink(0);
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        send(&q, &format!("thread {t} line {i:04}\n"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        w.finish();
        let text = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let t: usize = line[7..8].parse().unwrap();
            assert_eq!(line, format!("thread {t} line {:04}", next[t]));
            next[t] += 1;
        }
        assert_eq!(next, [2_000; 4], "every line, once, in each thread's order");
    }

    #[test]
    fn a_held_up_sink_makes_loggers_wait_at_the_bound_and_loses_nothing() {
        let sink = Collect::default();
        sink.held.store(true, Ordering::SeqCst);
        let bounds = Bounds {
            lines: 4,
            bytes: 1 << 20,
        };
        let w = LogWriter::start(
            vec![(Sink::Other(Box::new(sink.clone())), LineStyle::FILE)],
            bounds,
        )
        .unwrap();
        let q = w.sink(0);
        let producer = std::thread::spawn(move || {
            for i in 0..20 {
                send(&q, &format!("line {i:02}\n"));
            }
        });
        // The writer holds at most one batch (<= 4 lines) and the queue 4 more: the
        // producer cannot finish until the sink is released.
        assert!(
            !finished_within(&producer, Duration::from_millis(300)),
            "the producer waits for room"
        );
        assert!(w.shared.lock().records.len() <= bounds.lines);
        assert!(w.waited() >= 1);
        sink.held.store(false, Ordering::SeqCst);
        producer.join().unwrap();
        let waited = w.finish();
        assert!(waited >= 1);
        let text = sink.text();
        let (reports, lines) = split_reports(&text);
        let expected: Vec<String> = (0..20).map(|i| format!("line {i:02}")).collect();
        assert_eq!(lines, expected, "{text}");
        // The writer's own reports of the waits, in the log's shape, add up to the count.
        assert!(!reports.is_empty(), "{text}");
        let mut sum = 0;
        for r in &reports {
            let (n, rest) = r
                .split_once(" log line(s) waited for room in the log queue (")
                .unwrap();
            sum += n.parse::<u64>().unwrap();
            assert!(
                rest.starts_with(&format!(
                    "{sum} since start; it holds 4 lines or 1048576 bytes): the log sinks are slower than the node logs"
                )),
                "{text}"
            );
        }
        assert_eq!(sum, waited, "{text}");
    }

    /// The writer's wait reports (what follows their level and target) and the other lines.
    fn split_reports(text: &str) -> (Vec<&str>, Vec<&str>) {
        let mut reports = Vec::new();
        let mut lines = Vec::new();
        for l in text.lines() {
            match l.split_once("Z  WARN log_writer: ") {
                Some((_, r)) => reports.push(r),
                None => lines.push(l),
            }
        }
        (reports, lines)
    }

    /// Whether `t` finished within `d` (polled; a false answer only means "not yet").
    fn finished_within(t: &std::thread::JoinHandle<()>, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if t.is_finished() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        t.is_finished()
    }

    #[test]
    fn a_line_longer_than_the_byte_bound_is_taken_when_the_queue_is_empty() {
        let sink = Collect::default();
        let bounds = Bounds {
            lines: 100,
            bytes: 16,
        };
        let w = LogWriter::start(
            vec![(Sink::Other(Box::new(sink.clone())), LineStyle::FILE)],
            bounds,
        )
        .unwrap();
        let q = w.sink(0);
        let long = format!("{}\n", "x".repeat(100));
        for _ in 0..3 {
            send(&q, &long);
        }
        send(&q, "short\n");
        w.finish();
        let text = sink.text();
        let long = &long[..100];
        assert_eq!(split_reports(&text).1, [long, long, long, "short"]);
    }

    #[test]
    fn flush_returns_once_earlier_lines_are_in_the_file_and_lines_go_to_their_sink() {
        let dir = tempfile::tempdir().unwrap();
        let file = RotatingFile::open(dir.path(), "node", 0, 0).unwrap();
        let other = Collect::default();
        let w = LogWriter::start(
            vec![
                (Sink::Other(Box::new(other.clone())), LineStyle::FILE),
                (Sink::File(file), LineStyle::FILE),
            ],
            Bounds::DEFAULT,
        )
        .unwrap();
        send(&w.sink(1), "to the file\n");
        send(&w.sink(0), "to the other\n");
        assert!(w.flush(Duration::from_secs(10)));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("node.log")).unwrap(),
            "to the file\n"
        );
        assert_eq!(other.text(), "to the other\n");
        // After finish, lines are not written (and the call does not wait).
        let late = w.sink(1);
        assert_eq!(w.finish(), 0);
        send(&late, "late\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("node.log")).unwrap(),
            "to the file\n"
        );
    }

    #[test]
    fn rotation_through_the_writer_keeps_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = RotatingFile::open(dir.path(), "node", 100, 50).unwrap();
        let w =
            LogWriter::start(vec![(Sink::File(file), LineStyle::FILE)], Bounds::DEFAULT).unwrap();
        let lines: Vec<String> = (0..200).map(|i| format!("line {i:04}\n")).collect();
        let q = w.sink(0);
        for l in &lines {
            send(&q, l);
        }
        w.finish();
        let mut kept = String::new();
        for n in (1..50).rev() {
            let p = dir.path().join(format!("node.{n}.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            assert!(
                text.len() <= 100,
                "{} has {} bytes",
                p.display(),
                text.len()
            );
            kept += &text;
        }
        kept += &std::fs::read_to_string(dir.path().join("node.log")).unwrap();
        // 50 files of 100 bytes hold the newest 500 lines' worth: all 200 are there.
        assert_eq!(kept, lines.concat());
    }
}
