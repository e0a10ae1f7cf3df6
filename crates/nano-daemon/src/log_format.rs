//! The log line format and the `tracing` layer that feeds the log writer.
//!
//! [`QueueLayer`] takes each event on the thread that logs it and keeps only what the
//! line needs: the time, level, target, enclosing spans and the event's fields rendered
//! once (the message and any `name=value` pairs, by `tracing_subscriber`'s own
//! [`DefaultFields`]). The record goes to the log writer ([`crate::log_writer`]), whose
//! thread writes each sink's line from it with [`write_line`]: the file's with the target,
//! the console's without it and coloured when it is a terminal. Before, each sink had its
//! own `tracing_subscriber::fmt` layer, so a line was formatted twice, timestamps and all,
//! on the thread that logged it (an RPC request's thread, under `log_rpc`).
//!
//! The lines are byte for byte those of `tracing_subscriber::fmt`'s default ("full")
//! format: `<RFC 3339 UTC time, microseconds>  INFO <span{fields}:...> <target>: <fields>`
//! (the tests compare them with that layer's). One difference on a coloured console: field
//! names other than the message are not italic (the fields are rendered once, plainly).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::log_writer::Shared;

/// How a sink's lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineStyle {
    /// Write the event's target (`rpc_request: `) before its fields.
    pub target: bool,
    /// Colour the level and dim the time (a console that is a terminal).
    pub ansi: bool,
}

impl LineStyle {
    /// The log file's lines.
    pub const FILE: LineStyle = LineStyle {
        target: true,
        ansi: false,
    };
}

/// One event as the writer thread needs it to write its lines.
pub struct LogEvent {
    time: SystemTime,
    level: Level,
    target: Cow<'static, str>,
    /// The enclosing spans from the root: name and rendered fields.
    spans: Vec<(&'static str, String)>,
    fields: String,
}

impl LogEvent {
    /// Bytes the record holds, for the queue's byte bound.
    pub fn size(&self) -> usize {
        self.fields.len()
            + self
                .spans
                .iter()
                .map(|(n, f)| n.len() + f.len())
                .sum::<usize>()
            + 64
    }

    /// Warnings and errors are written at once.
    pub fn urgent(&self) -> bool {
        self.level <= Level::WARN
    }
}

/// A span's fields as rendered for the lines of the events inside it (a type of this
/// layer's own: `tracing_subscriber::fmt` layers beside it keep theirs).
struct SpanFields(FormattedFields<DefaultFields>);

/// The `tracing` layer of the daemon's log: every event the filter lets through becomes
/// one [`LogEvent`] in the writer's queue, written to every sink.
pub struct QueueLayer {
    pub(crate) shared: Arc<Shared>,
}

impl<S> Layer<S> for QueueLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if ext.get_mut::<SpanFields>().is_none() {
            let mut fields = FormattedFields::<DefaultFields>::new(String::new());
            if DefaultFields::new()
                .format_fields(fields.as_writer(), attrs)
                .is_ok()
            {
                ext.insert(SpanFields(fields));
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(SpanFields(fields)) => {
                let _ = DefaultFields::new().add_fields(fields, values);
            }
            None => {
                let mut fields = FormattedFields::<DefaultFields>::new(String::new());
                if DefaultFields::new()
                    .format_fields(fields.as_writer(), values)
                    .is_ok()
                {
                    ext.insert(SpanFields(fields));
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let time = SystemTime::now();
        // A `log` record arrives as an event of target `log`: its own target and level
        // are what the line shows (its `log.*` fields are not written).
        let normalized = event.normalized_metadata();
        let (level, target) = match &normalized {
            Some(m) => (*m.level(), Cow::Owned(m.target().to_owned())),
            None => (
                *event.metadata().level(),
                Cow::Borrowed(event.metadata().target()),
            ),
        };
        let mut fields = Fields {
            out: String::new(),
            is_empty: true,
        };
        event.record(&mut fields);
        let fields = fields.out;
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let ext = span.extensions();
                let f = ext
                    .get::<SpanFields>()
                    .map(|f| f.0.fields.clone())
                    .unwrap_or_default();
                spans.push((span.metadata().name(), f));
            }
        }
        self.shared.push_event(LogEvent {
            time,
            level,
            target,
            spans,
            fields,
        });
    }
}

/// Renders an event's fields as `tracing_subscriber`'s [`DefaultFields`] does. The message
/// (a request's whole line under `log_rpc`) is written here: `DefaultFields` passes it
/// character by character through its escaping of terminal control characters, which
/// cost most of a logged request's formatting; here it is written in one piece and
/// escaped the same way only when it holds such a character. Other fields go to
/// `DefaultFields`' own visitor.
struct Fields {
    out: String,
    is_empty: bool,
}

impl Fields {
    fn pad(&mut self) {
        if !std::mem::take(&mut self.is_empty) {
            self.out.push(' ');
        }
    }

    /// Lets `DefaultFields`' visitor write one field after the ones written so far.
    fn delegate(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>, &Field)) {
        // Fields of a `log` record's metadata: not written (the visitor skips them too).
        if field.name().starts_with("log.") {
            return;
        }
        let mut v = DefaultVisitor::new(Writer::new(&mut self.out), self.is_empty);
        record(&mut v, field);
        self.is_empty = false;
    }

    fn message(&mut self, value: &dyn std::fmt::Debug) {
        self.pad();
        let start = self.out.len();
        let _ = write!(self.out, "{value:?}");
        if needs_escape(&self.out[start..]) {
            let raw = self.out.split_off(start);
            escape_into(&mut self.out, &raw);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message(value);
        } else {
            self.delegate(field, |v, f| v.record_debug(f, value));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message(&format_args!("{value}"));
        } else {
            self.delegate(field, |v, f| v.record_str(f, value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.delegate(field, |v, f| v.record_i64(f, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.delegate(field, |v, f| v.record_u64(f, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.delegate(field, |v, f| v.record_bool(f, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(field, |v, f| v.record_error(f, value));
    }
}

/// Whether `s` may hold a character the log escapes: ESC, BEL, BS, FF, DEL or a C1
/// control (U+0080-U+009F, UTF-8 lead byte 0xC2; other 0xC2 characters only cost the
/// exact check).
fn needs_escape(s: &str) -> bool {
    s.bytes()
        .any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2))
}

/// `raw` with the characters a terminal could act on written as escapes, as
/// `tracing_subscriber` writes them (`\x1b`, `\u{9b}`).
fn escape_into(out: &mut String, raw: &str) {
    for c in raw.chars() {
        match c {
            '\x1b' => out.push_str("\\x1b"),
            '\x07' => out.push_str("\\x07"),
            '\x08' => out.push_str("\\x08"),
            '\x0c' => out.push_str("\\x0c"),
            '\x7f' => out.push_str("\\x7f"),
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of the last second formatted: lines come many per second, so
/// the date is worked out once per second and each line adds its microseconds.
#[derive(Default)]
pub struct Clock {
    second: Option<u64>,
    text: String,
}

impl Clock {
    fn write(&mut self, out: &mut Vec<u8>, time: SystemTime) {
        let Ok(d) = time.duration_since(UNIX_EPOCH) else {
            // Before 1970: not a clock this node runs on; said plainly.
            out.extend_from_slice(b"<unknown time>");
            return;
        };
        let secs = d.as_secs();
        if self.second != Some(secs) {
            self.second = Some(secs);
            self.text = second_text(secs);
        }
        out.extend_from_slice(self.text.as_bytes());
        let micros = d.subsec_micros();
        let mut digits = [b'0'; 8];
        digits[0] = b'.';
        let mut m = micros;
        for i in (1..7).rev() {
            digits[i] = b'0' + (m % 10) as u8;
            m /= 10;
        }
        digits[7] = b'Z';
        out.extend_from_slice(&digits);
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of whole seconds since 1970.
fn second_text(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let (y, m, d) = nano_core::civil_date::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let year = if y > 9999 {
        format!("+{y}")
    } else {
        format!("{y:04}")
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Writes `event`'s line in `style` to `out`.
pub fn write_line(out: &mut Vec<u8>, clock: &mut Clock, event: &LogEvent, style: LineStyle) {
    if style.ansi {
        out.extend_from_slice(DIM.as_bytes());
        clock.write(out, event.time);
        out.extend_from_slice(RESET.as_bytes());
        out.push(b' ');
        let colour = match event.level {
            Level::TRACE => "\x1b[35m",
            Level::DEBUG => "\x1b[34m",
            Level::INFO => "\x1b[32m",
            Level::WARN => "\x1b[33m",
            Level::ERROR => "\x1b[31m",
        };
        out.extend_from_slice(colour.as_bytes());
        out.extend_from_slice(level_text(event.level).as_bytes());
        out.extend_from_slice(RESET.as_bytes());
        out.push(b' ');
    } else {
        clock.write(out, event.time);
        out.push(b' ');
        out.extend_from_slice(level_text(event.level).as_bytes());
        out.push(b' ');
    }
    for (name, fields) in &event.spans {
        paint(out, style.ansi, BOLD, name);
        if !fields.is_empty() {
            paint(out, style.ansi, BOLD, "{");
            out.extend_from_slice(fields.as_bytes());
            paint(out, style.ansi, BOLD, "}");
        }
        paint(out, style.ansi, DIM, ":");
    }
    if !event.spans.is_empty() {
        out.push(b' ');
    }
    if style.target {
        paint(out, style.ansi, DIM, &event.target);
        paint(out, style.ansi, DIM, ":");
        out.push(b' ');
    }
    out.extend_from_slice(event.fields.as_bytes());
    out.push(b'\n');
}

/// `text` in the style `code` when colouring.
fn paint(out: &mut Vec<u8>, ansi: bool, code: &str, text: &str) {
    if ansi {
        out.extend_from_slice(code.as_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(RESET.as_bytes());
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// The level as the format pads it: five characters, right-aligned.
fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_writer::{Bounds, LogWriter, Sink};
    use std::io::{self, Write};
    use std::sync::Mutex;
    use tracing_subscriber::layer::SubscriberExt;

    /// A sink that collects what reaches it.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<u8>>>);

    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Collect {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Every `YYYY-MM-DDTHH:MM:SS.ffffffZ` in `text` replaced by `<time>`: the two layers
    /// take the clock a moment apart.
    fn mask_times(text: &str) -> String {
        let b = text.as_bytes();
        let shape = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            let is_time = b.len() - i >= shape.len()
                && shape.iter().zip(&b[i..]).all(|(s, c)| match s {
                    b'd' => c.is_ascii_digit(),
                    _ => s == c,
                });
            if is_time {
                out.push_str("<time>");
                i += shape.len();
            } else {
                let c = text[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
        out
    }

    #[derive(Debug)]
    struct Failure;

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("disk full")
        }
    }

    impl std::error::Error for Failure {}

    /// The events of the comparison: a plain message, fields of each kind, an error, a
    /// `log` record, events inside spans (one recorded into later), every level.
    fn log_some_events() {
        tracing::info!(target: "rpc_request", "Request: {}", r#"{"action":"block_count"}"#);
        tracing::warn!(peers = 3, name = "a \"quoted\" name", shown = %"display", "few peers");
        tracing::error!(
            error = &Failure as &(dyn std::error::Error + 'static),
            "write failed"
        );
        tracing::debug!(target: "network", r#type = "keepalive");
        tracing::trace!("trace line with escapes \x1b[31m \u{9b} \x7f \u{a9} inside");
        tracing::info!(text = "field \x1b[0m", "message {}", "\x07 in an argument");
        let outer = tracing::info_span!("election", root = "ABC", votes = tracing::field::Empty);
        let _o = outer.enter();
        outer.record("votes", 7);
        tracing::info!("inside one span");
        let inner = tracing::info_span!("round");
        let _i = inner.enter();
        tracing::info!(n = 2, "inside two spans");
        drop(_i);
        drop(_o);
        tracing_log::format_trace(
            &log::Record::builder()
                .args(format_args!("a line from the log crate"))
                .target("tungstenite::protocol")
                .level(log::Level::Info)
                .module_path_static(Some("tungstenite::protocol"))
                .file_static(Some("protocol.rs"))
                .line(Some(12))
                .build(),
        )
        .unwrap();
    }

    #[test]
    fn lines_are_those_of_the_fmt_layers_they_replace() {
        let console = LineStyle {
            target: false,
            ansi: false,
        };
        let coloured = LineStyle {
            target: false,
            ansi: true,
        };
        let styles = [LineStyle::FILE, console, coloured];
        let ours = [Collect::default(), Collect::default(), Collect::default()];
        let theirs = [Collect::default(), Collect::default(), Collect::default()];
        // One fmt layer per run: fmt layers side by side share their span fields and
        // would each add a recorded value to them.
        for i in 0..3 {
            let writer = LogWriter::start(
                vec![(Sink::Other(Box::new(ours[i].clone())), styles[i])],
                Bounds::DEFAULT,
            )
            .unwrap();
            let to = theirs[i].clone();
            let fmt = tracing_subscriber::fmt::layer()
                .with_target(styles[i].target)
                .with_ansi(styles[i].ansi)
                .with_writer(move || to.clone());
            let subscriber = tracing_subscriber::registry()
                .with(tracing::level_filters::LevelFilter::TRACE)
                .with(writer.layer())
                .with(fmt);
            tracing::subscriber::with_default(subscriber, log_some_events);
            writer.finish();
        }
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            let (o, t) = (mask_times(&o.text()), mask_times(&t.text()));
            assert_eq!(o.lines().count(), 9, "{o}");
            if i < 2 {
                assert_eq!(o, t, "sink {i}");
            } else {
                // Coloured: the same but for italic field names (the fields are
                // rendered once, plainly).
                let italic = t
                    .replace("\x1b[3m", "")
                    .replace("\x1b[0m\x1b[2m=\x1b[0m", "=")
                    .replace("\x1b[0m\x1b[2m.sources\x1b[0m", ".sources");
                assert_eq!(o, italic, "sink {i}");
            }
        }
        let file = mask_times(&ours[0].text());
        assert!(file.starts_with(
            "<time>  INFO rpc_request: Request: {\"action\":\"block_count\"}\n<time>  WARN nano_daemon::log_format::tests: few peers peers=3 name=\"a \\\"quoted\\\" name\" shown=display\n"
        ), "{file}");
        assert!(
            file.contains("<time>  INFO tungstenite::protocol: a line from the log crate\n"),
            "{file}"
        );
        assert!(
            file.contains("<time>  INFO election{root=\"ABC\" votes=7}:round: nano_daemon::log_format::tests: inside two spans n=2\n"),
            "{file}"
        );
    }

    #[test]
    fn times_are_utc_rfc3339_with_microseconds() {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        let t = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 1_234_567);
        clock.write(&mut out, t);
        out.push(b' ');
        clock.write(&mut out, t + std::time::Duration::from_micros(5));
        out.push(b' ');
        clock.write(
            &mut out,
            UNIX_EPOCH + std::time::Duration::new(951_868_799, 999_999_999),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2023-11-14T22:13:20.001234Z 2023-11-14T22:13:20.001239Z 2000-02-29T23:59:59.999999Z"
        );
    }
}
