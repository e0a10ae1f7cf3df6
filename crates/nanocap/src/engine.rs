//! The capture engine: owns the analyzer and the database writer, runs file imports
//! (with a terminal progress bar) and live captures, and obeys the web console's
//! start/stop/toggle/destroy requests. One thread runs it; the web server talks to it
//! through a channel.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use nano_messages::MessageType;

use crate::analyzer::{Analyzer, Options};
use crate::config::Config;
use crate::db::DbWriter;
use crate::input::CaptureFile;
use crate::net::parse_frame;
use crate::status::Status;

/// Requests from the web console; each answers on its channel.
#[derive(Debug)]
pub enum Control {
    Start(Sender<Result<(), String>>),
    Stop(Sender<Result<(), String>>),
    Toggle(Sender<Result<(), String>>),
    Destroy(Sender<Result<(), String>>),
}

/// Frames between hand-offs of rows to the writer and control checks.
const BATCH_FRAMES: u64 = 2048;

/// What an import or capture did, for the closing summary.
#[derive(Debug, Clone)]
pub struct Report {
    pub packets: u64,
    pub messages: u64,
    pub per_type: Vec<(String, u64)>,
    pub stream_entries: u64,
    pub decode_errors: u64,
    pub elapsed: Duration,
    pub max_db_size_reached: bool,
}

impl Report {
    fn from_status(status: &Status, elapsed: Duration) -> Report {
        let mut per_type = Vec::new();
        for (i, c) in status.per_type.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                let name = u8::try_from(i)
                    .ok()
                    .and_then(MessageType::from_u8)
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| format!("type {i}"));
                per_type.push((name, n));
            }
        }
        Report {
            packets: status.packets.load(Ordering::Relaxed),
            messages: status.messages.load(Ordering::Relaxed),
            per_type,
            stream_entries: status.stream_entries.load(Ordering::Relaxed),
            decode_errors: status.decode_errors.load(Ordering::Relaxed),
            elapsed,
            max_db_size_reached: status.max_db_size_reached.load(Ordering::Relaxed),
        }
    }

    /// Packets per second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets as f64 / s
        } else {
            0.0
        }
    }

    /// The human-readable summary printed at the end.
    pub fn render(&self) -> String {
        let mut s = format!("packets: {}\nmessages: {}\n", self.packets, self.messages);
        for (name, n) in &self.per_type {
            s.push_str(&format!("  {name}: {n}\n"));
        }
        s.push_str(&format!(
            "bootstrap stream entries: {}\ndecode errors: {}\nelapsed: {:.3} s\nrate: {:.0} packets/s\n",
            self.stream_entries,
            self.decode_errors,
            self.elapsed.as_secs_f64(),
            self.rate()
        ));
        if self.max_db_size_reached {
            s.push_str("stopped early: capture.max_capture_megabytes reached\n");
        }
        s
    }
}

/// The engine.
pub struct Engine {
    cfg: Config,
    status: Arc<Status>,
    writer: DbWriter,
    analyzer: Analyzer,
    stop: Arc<AtomicBool>,
    #[cfg(feature = "live")]
    live: Option<crate::live::LiveCapture>,
    last_ts: i64,
}

impl Engine {
    /// Opens the database (new run) and prepares an analyzer. `bulk_import` defers index
    /// building to the end of [`Engine::import`].
    pub fn new(
        cfg: Config,
        db_path: &Path,
        source: &str,
        status: Arc<Status>,
        stop: Arc<AtomicBool>,
        bulk_import: bool,
    ) -> anyhow::Result<Engine> {
        let max = cfg
            .capture
            .max_capture_megabytes
            .saturating_mul(1024 * 1024);
        let writer = DbWriter::start(
            db_path,
            source,
            max,
            status.clone(),
            bulk_import,
            cfg.capture.connection_details,
        )?;
        let opts = Options {
            block_details: cfg.capture.block_details,
            bootstrap_details: cfg.capture.bootstrap_details,
        };
        let analyzer = Analyzer::new(opts, status.clone(), writer.run());
        Ok(Engine {
            cfg,
            status,
            writer,
            analyzer,
            stop,
            #[cfg(feature = "live")]
            live: None,
            last_ts: 0,
        })
    }

    fn hand_off(&mut self) {
        let rows = self.analyzer.take_rows();
        self.status
            .queue_rows
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        self.writer.write(rows);
    }

    fn frame(&mut self, ts_usec: i64, link_type: u32, data: &[u8]) {
        self.status.packets.fetch_add(1, Ordering::Relaxed);
        self.last_ts = ts_usec;
        match parse_frame(link_type, data) {
            Ok(Some(seg)) => self.analyzer.segment(ts_usec, &seg),
            Ok(None) => {}
            Err(e) => self.analyzer.frame_error(ts_usec, "frame", e.to_string()),
        }
    }

    /// Imports a capture file. Control requests during the import are refused.
    pub fn import(
        &mut self,
        path: &Path,
        progress: bool,
        ctl: Option<&Receiver<Control>>,
    ) -> anyhow::Result<Report> {
        let started = Instant::now();
        let mut file = CaptureFile::open(path)?;
        #[cfg(feature = "live")]
        let mut filter = crate::live::FileFilter::new(&self.cfg.capture.filter)?;
        let counter = file.progress_counter();
        let total = file.total_bytes();
        self.status.progress_total.store(total, Ordering::Relaxed);
        self.status.importing.store(true, Ordering::Relaxed);
        let bar = if progress {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Some(b)
        } else {
            None
        };
        let mut n: u64 = 0;
        loop {
            let frame = match file.next_frame() {
                None => break,
                Some(Err(e)) => {
                    self.analyzer.frame_error(self.last_ts, "file", e);
                    break;
                }
                Some(Ok(f)) => f,
            };
            #[cfg(feature = "live")]
            if let Some(f) = filter.as_mut() {
                if !f.matches(frame.link_type, frame.data) {
                    continue;
                }
            }
            let (ts, lt) = (frame.ts_usec, frame.link_type);
            // Split borrow: the frame borrows `file`, not `self`.
            let data = frame.data;
            self.status.packets.fetch_add(1, Ordering::Relaxed);
            self.last_ts = ts;
            match parse_frame(lt, data) {
                Ok(Some(seg)) => self.analyzer.segment(ts, &seg),
                Ok(None) => {}
                Err(e) => self.analyzer.frame_error(ts, "frame", e.to_string()),
            }
            n += 1;
            if n % BATCH_FRAMES == 0 {
                self.hand_off();
                let read = counter.load(Ordering::Relaxed);
                self.status.progress_bytes.store(read, Ordering::Relaxed);
                if let Some(b) = &bar {
                    b.set_position(read);
                    b.set_message(format!("{n} packets"));
                }
                if let Some(ctl) = ctl {
                    while let Ok(c) = ctl.try_recv() {
                        refuse(c, "Import in progress");
                    }
                }
                if self.stop.load(Ordering::Relaxed)
                    || self.status.max_db_size_reached.load(Ordering::Relaxed)
                {
                    break;
                }
            }
        }
        self.analyzer.finish(self.last_ts);
        self.hand_off();
        self.writer.flush();
        self.writer.create_indices();
        self.status
            .progress_bytes
            .store(counter.load(Ordering::Relaxed), Ordering::Relaxed);
        self.status.importing.store(false, Ordering::Relaxed);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(Report::from_status(&self.status, started.elapsed()))
    }

    /// Serves control requests and runs live capture until `stop` is set or the channel
    /// closes.
    pub fn run(&mut self, ctl: Receiver<Control>, start_live: bool) {
        if start_live {
            if let Err(e) = self.start_live() {
                eprintln!("nanocap: live capture: {e}");
            }
        }
        let mut n: u64 = 0;
        let mut last_hand_off = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let c = if self.is_live() {
                ctl.try_recv().ok()
            } else {
                match ctl.recv_timeout(Duration::from_millis(200)) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            if let Some(c) = c {
                self.control(c);
            }
            if self.is_live() {
                if self.live_step() {
                    n += 1;
                }
                if n % BATCH_FRAMES == 0 || last_hand_off.elapsed() > Duration::from_millis(250) {
                    self.hand_off();
                    last_hand_off = Instant::now();
                }
                if self.status.max_db_size_reached.load(Ordering::Relaxed) {
                    self.stop_live();
                }
            }
        }
        self.stop_live();
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::Start(r) => {
                let _ = r.send(self.start_live().map_err(|e| e.to_string()));
            }
            Control::Stop(r) => {
                self.stop_live();
                let _ = r.send(Ok(()));
            }
            Control::Toggle(r) => {
                let res = if self.is_live() {
                    self.stop_live();
                    Ok(())
                } else {
                    self.start_live().map_err(|e| e.to_string())
                };
                let _ = r.send(res);
            }
            Control::Destroy(r) => {
                let was_live = self.is_live();
                self.stop_live();
                self.analyzer.take_rows();
                self.writer.flush();
                let res = self.writer.destroy().map(|run| {
                    self.analyzer.reset(run);
                    self.status.reset_counts();
                });
                let res = match res {
                    Ok(()) if was_live => self.start_live().map_err(|e| e.to_string()),
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.to_string()),
                };
                let _ = r.send(res);
            }
        }
    }

    #[cfg(feature = "live")]
    fn is_live(&self) -> bool {
        self.live.is_some()
    }
    #[cfg(not(feature = "live"))]
    fn is_live(&self) -> bool {
        false
    }

    #[cfg(feature = "live")]
    fn start_live(&mut self) -> anyhow::Result<()> {
        if self.live.is_some() {
            return Ok(());
        }
        let c = &self.cfg.capture;
        let cap = crate::live::LiveCapture::open(&c.interface, &c.device_ip, &c.filter)
            .inspect_err(|e| {
                if let Ok(mut g) = self.status.last_error.lock() {
                    *g = Some(e.to_string());
                }
            })?;
        eprintln!("nanocap: live capture on {}", cap.name);
        self.live = Some(cap);
        self.status.capturing.store(true, Ordering::Relaxed);
        Ok(())
    }
    #[cfg(not(feature = "live"))]
    fn start_live(&mut self) -> anyhow::Result<()> {
        anyhow::bail!("this build has no live capture (cargo feature `live`)")
    }

    #[cfg(feature = "live")]
    fn live_step(&mut self) -> bool {
        let pkt = match self.live.as_mut().map(|l| l.next_packet()) {
            Some(Ok(Some(p))) => p,
            Some(Ok(None)) | None => return false,
            Some(Err(e)) => {
                eprintln!("nanocap: capture error: {e}");
                self.stop_live();
                return false;
            }
        };
        self.frame(pkt.ts_usec, pkt.link_type, &pkt.data);
        true
    }
    #[cfg(not(feature = "live"))]
    fn live_step(&mut self) -> bool {
        false
    }

    #[cfg(feature = "live")]
    fn stop_live(&mut self) {
        if let Some(mut cap) = self.live.take() {
            let (received, dropped, if_dropped) = cap.stats();
            eprintln!(
                "nanocap: capture on {} stopped: {received} packets received, {dropped} dropped by libpcap, {if_dropped} dropped by the interface",
                cap.name
            );
            if let Ok(mut g) = self.status.last_capture_stats.lock() {
                *g = Some((received, dropped, if_dropped));
            }
            self.writer
                .record_capture_stats(received, dropped, if_dropped);
            // The stop ends the input as the end of a file does: bytes held behind a hole
            // are released and a message cut off is reported, else they would wait for
            // packets that a stopped capture never sees.
            self.analyzer.finish(self.last_ts);
            self.hand_off();
            self.writer.flush();
        }
        self.status.capturing.store(false, Ordering::Relaxed);
    }
    #[cfg(not(feature = "live"))]
    fn stop_live(&mut self) {
        self.status.capturing.store(false, Ordering::Relaxed);
    }

    /// Writes everything and stops the writer.
    pub fn close(mut self) {
        self.stop_live();
        self.hand_off();
        self.writer.close();
    }
}

fn refuse(c: Control, why: &str) {
    let r = match c {
        Control::Start(r) | Control::Stop(r) | Control::Toggle(r) | Control::Destroy(r) => r,
    };
    let _ = r.send(Err(why.to_string()));
}
