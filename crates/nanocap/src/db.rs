//! The database writer: opens (or creates) the capture database, applies the schema, owns
//! the id sequence's run multiplier, and writes row batches in large transactions from a
//! dedicated thread so decoding never waits on disk. WAL mode lets the web console read
//! while this writes. Also guards the `max_capture_megabytes` limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::schema::{self, Table, INDICES, TABLES};
use crate::sqlraw::{configure_sqlite, Bind, RawStatement};
use crate::status::Status;

/// Ids of run `n` start at `n * ID_SPAN`, so ids are unique across runs and tables.
pub const ID_SPAN: i64 = 1_000_000_000;

/// A column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    Str(&'static str),
    /// Text shared by many rows (a flow's addresses, the current second's time).
    Shared(Arc<str>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<u64> for Val {
    /// u64 values above i64::MAX are stored bit-cast (SQLite integers are signed).
    fn from(v: u64) -> Val {
        Val::Int(v as i64)
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<u16> for Val {
    fn from(v: u16) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<u8> for Val {
    fn from(v: u8) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<Arc<str>> for Val {
    fn from(v: Arc<str>) -> Val {
        Val::Shared(v)
    }
}
impl From<&'static str> for Val {
    fn from(v: &'static str) -> Val {
        Val::Str(v)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map(Into::into).unwrap_or(Val::Null)
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Str(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Shared(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// One row for one table; `vals` follow the table's column order, id first. Missing
/// trailing values are written as NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub table: Table,
    pub vals: Vec<Val>,
}

enum Cmd {
    Rows(Vec<Row>),
    /// Commit now and answer.
    Flush(mpsc::Sender<()>),
    /// Delete every row, start a new run, answer with its multiplier.
    Destroy(mpsc::Sender<anyhow::Result<i64>>),
    /// Record libpcap statistics on the current run.
    RunStats {
        received: u64,
        dropped: u64,
        if_dropped: u64,
    },
    /// Build the indices (after a bulk import) and answer.
    CreateIndices(mpsc::Sender<()>),
}

/// Handle to the writer thread.
pub struct DbWriter {
    tx: Option<SyncSender<Cmd>>,
    /// Written batches come back here to be freed by the producer: freeing millions of
    /// small strings is a sizeable share of the work, and the writer thread is the
    /// bottleneck while the producer has time to spare.
    spent: Receiver<Vec<Row>>,
    thread: Option<JoinHandle<()>>,
    run: i64,
    path: PathBuf,
}

/// Opens a database and applies the schema with its indices (and the `connection` view
/// with message events); used by tests and tools.
pub fn open_and_init(path: &Path) -> anyhow::Result<Connection> {
    let conn = open_tables(path, true, false)?;
    create_indices(&conn)?;
    Ok(conn)
}

/// Creates the indices that do not exist yet.
pub fn create_indices(conn: &Connection) -> rusqlite::Result<()> {
    for (name, table, cols) in INDICES {
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS {name} ON {table} ({cols})"
        ))?;
    }
    Ok(())
}

/// Bytes of the database file a console query reads through a memory map instead of
/// `pread` copies (queries often scan whole tables). SQLite caps the value at its
/// compile-time maximum (2 GiB on 64-bit Linux). The writer does not map: on a
/// million-packet import it saved only 3–5% of the index build while the mapped file
/// tripled the resident size (340 MB to 990 MB).
pub const MMAP_SIZE: i64 = 1 << 31;

/// How long the writer waits for a lock. Readers never block a WAL writer; during a bulk
/// import (rollback journal, see [`open_tables`]) a commit waits for running console
/// queries, which stop after [`crate::query::QUERY_TIME_LIMIT`].
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens a database and creates the tables (not the indices) and the `connection` view.
///
/// `bulk` (a file import) uses a rollback journal instead of WAL while rows are written:
/// an import only appends pages, and a rollback journal saves only pages that existed
/// before the transaction, so almost nothing is written twice, where WAL writes every
/// page to the log and again at the checkpoint. A killed import still rolls back to the
/// last commit. Console queries keep working; they wait while a commit writes (well
/// under a second). [`DbWriter::create_indices`] switches back to WAL.
fn open_tables(path: &Path, connection_details: bool, bulk: bool) -> anyhow::Result<Connection> {
    configure_sqlite();
    let conn = Connection::open(path)?;
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
    // Larger pages: fewer B-tree splits for these wide rows (only applies to new files).
    conn.pragma_update(None, "page_size", 16384)?;
    // If another process holds the file open the mode cannot change; the import then
    // simply runs in WAL mode.
    set_journal_mode(&conn, if bulk { "delete" } else { "wal" });
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    // The writer's only temporary data is the index build's sort. With temporary storage
    // on "file" SQLite sorts in large arena buffers (spilling to temporary files only
    // past the cache size) instead of one allocation per key, which made the index build
    // about a quarter faster.
    conn.pragma_update(None, "temp_store", "FILE")?;
    // An index sort larger than the cache is split into runs sorted by helper threads
    // (during the index build the analyzer is idle, so its core is free).
    let helpers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    conn.pragma_update(None, "threads", helpers as i64)?;
    conn.execute_batch(schema::RUNS_DDL)?;
    conn.execute_batch("BEGIN")?;
    let res = (|| -> rusqlite::Result<()> {
        for def in TABLES {
            conn.execute_batch(&schema::create_table_sql(def))?;
        }
        migrate_connection_table(&conn)?;
        conn.execute_batch("DROP VIEW IF EXISTS connection")?;
        conn.execute_batch(&schema::connection_view_sql(connection_details))
    })();
    match res {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
    }
    Ok(conn)
}

/// Databases written before `connection` became a view hold it as a table, with one row
/// per message besides the flow events. The flow events move to `connection_event`;
/// the message rows are dropped because the view derives them from `packet`.
fn migrate_connection_table(conn: &Connection) -> rusqlite::Result<()> {
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'connection'",
            [],
            |r| r.get(0),
        )
        .ok();
    if kind.as_deref() == Some("table") {
        conn.execute_batch(
            "INSERT INTO connection_event SELECT * FROM connection WHERE packet_id IS NULL; \
             DROP TABLE connection;",
        )?;
    }
    Ok(())
}

/// Asks for a journal mode and returns whether SQLite switched to it (it keeps the old
/// mode while other connections hold the file open).
fn set_journal_mode(conn: &Connection, mode: &str) -> bool {
    conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| {
        r.get::<_, String>(0)
    })
    .map(|m| m.eq_ignore_ascii_case(mode))
    .unwrap_or(false)
}

/// Commits the open transaction. A failed commit leaves the transaction open, so it is
/// retried; if it still fails the batch is rolled back and counted, never silently lost
/// or left to break the next `BEGIN`.
fn commit_tx(conn: &Connection, status: &Status) {
    if conn.is_autocommit() {
        return;
    }
    let mut last = None;
    for _ in 0..3 {
        match conn.execute_batch("COMMIT") {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        if conn.is_autocommit() {
            break;
        }
    }
    status.db_errors.fetch_add(1, Ordering::Relaxed);
    if let Some(e) = last {
        eprintln!("nanocap: commit failed, rows of this transaction discarded: {e}");
    }
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

fn new_run(conn: &Connection, source: &str) -> anyhow::Result<i64> {
    conn.execute("INSERT INTO runs (source) VALUES (?1)", params![source])?;
    Ok(conn.last_insert_rowid())
}

/// Rows per transaction before a commit, and the longest a transaction stays open.
const COMMIT_ROWS: usize = 200_000;
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);
/// How often (in rows) the file size is compared with the limit.
const SIZE_CHECK_ROWS: usize = 10_000;

impl DbWriter {
    /// Opens the database, starts a new run and spawns the writer thread. With
    /// `defer_indices` (bulk import) indices are built by [`DbWriter::create_indices`]
    /// at the end, which is several times faster than maintaining them row by row, and
    /// rows are written under a rollback journal until then (see [`open_tables`]).
    pub fn start(
        path: &Path,
        source: &str,
        max_bytes: u64,
        status: Arc<Status>,
        defer_indices: bool,
        connection_details: bool,
    ) -> anyhow::Result<DbWriter> {
        let conn = open_tables(path, connection_details, defer_indices)?;
        if !defer_indices {
            create_indices(&conn)?;
        }
        let run = new_run(&conn, source)?;
        let (tx, rx) = mpsc::sync_channel::<Cmd>(QUEUED_BATCHES);
        let (spent_tx, spent) = mpsc::sync_channel::<Vec<Row>>(SPENT_BATCHES);
        let thread = std::thread::Builder::new()
            .name("nanocap-db".into())
            .spawn(move || writer_loop(conn, rx, spent_tx, max_bytes, status))?;
        Ok(DbWriter {
            tx: Some(tx),
            spent,
            thread: Some(thread),
            run,
            path: path.to_path_buf(),
        })
    }

    /// The current run's id multiplier.
    pub fn run(&self) -> i64 {
        self.run
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues rows; blocks when the writer is behind (backpressure keeps memory bounded).
    pub fn write(&self, rows: Vec<Row>) {
        while let Ok(done) = self.spent.try_recv() {
            drop(done);
        }
        if rows.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Cmd::Rows(rows));
        }
    }

    /// Commits everything queued so far; returns once it is visible to readers.
    pub fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (rtx, rrx) = mpsc::channel();
            if tx.send(Cmd::Flush(rtx)).is_ok() {
                let _ = rrx.recv();
            }
        }
    }

    /// Builds any missing index; returns when done.
    pub fn create_indices(&self) {
        if let Some(tx) = &self.tx {
            let (rtx, rrx) = mpsc::channel();
            if tx.send(Cmd::CreateIndices(rtx)).is_ok() {
                let _ = rrx.recv();
            }
        }
    }

    /// Removes all captured rows and starts a new run; returns the new multiplier.
    pub fn destroy(&mut self) -> anyhow::Result<i64> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("writer closed"))?;
        let (rtx, rrx) = mpsc::channel();
        tx.send(Cmd::Destroy(rtx))
            .map_err(|_| anyhow::anyhow!("writer stopped"))?;
        let run = rrx
            .recv()
            .map_err(|_| anyhow::anyhow!("writer stopped"))??;
        self.run = run;
        Ok(run)
    }

    /// Stores libpcap's counters on the run row.
    pub fn record_capture_stats(&self, received: u64, dropped: u64, if_dropped: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Cmd::RunStats {
                received,
                dropped,
                if_dropped,
            });
        }
    }

    /// Commits and stops the writer thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DbWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn db_size(conn: &Connection) -> u64 {
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap_or(0);
    let size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap_or(4096);
    (pages.max(0) as u64).saturating_mul(size.max(0) as u64)
}

/// Rows per multi-row `INSERT` (one statement step writes this many rows).
const MULTI_ROWS: usize = 32;

/// The insert statements, prepared once: per table one single-row and one
/// [`MULTI_ROWS`]-row statement. A batch is written table by table (ids are explicit, so
/// the order of rows within a transaction does not matter).
struct Inserter<'c> {
    single: Vec<RawStatement<'c>>,
    multi: Vec<RawStatement<'c>>,
    /// Row indices of the current batch, per table (reused between batches).
    by_table: Vec<Vec<u32>>,
}

impl<'c> Inserter<'c> {
    fn new(conn: &'c Connection) -> Result<Inserter<'c>, String> {
        let mut single = Vec::with_capacity(TABLES.len());
        let mut multi = Vec::with_capacity(TABLES.len());
        for def in TABLES {
            single.push(RawStatement::prepare(
                conn,
                &schema::insert_sql_rows(def, 1),
            )?);
            multi.push(RawStatement::prepare(
                conn,
                &schema::insert_sql_rows(def, MULTI_ROWS),
            )?);
        }
        Ok(Inserter {
            single,
            multi,
            by_table: vec![Vec::new(); TABLES.len()],
        })
    }

    /// Inserts every row; on failure returns the table of the first failed statement
    /// (the other statements still run).
    fn insert(&mut self, rows: &[Row]) -> Result<(), (Table, String)> {
        for (i, r) in rows.iter().enumerate() {
            self.by_table[r.table as usize].push(i as u32);
        }
        let mut first_err = None;
        for (t, idx) in self.by_table.iter_mut().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let table = Table::ALL[t];
            let ncols = table.def().columns.len();
            let mut chunks = idx.chunks_exact(MULTI_ROWS);
            for chunk in &mut chunks {
                if let Err(e) = bind_and_run(&mut self.multi[t], ncols, chunk, rows) {
                    first_err.get_or_insert((table, e));
                }
            }
            for &i in chunks.remainder() {
                if let Err(e) = bind_and_run(&mut self.single[t], ncols, &[i], rows) {
                    first_err.get_or_insert((table, e));
                }
            }
            idx.clear();
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Val {
    fn bind(&self) -> Bind<'_> {
        match self {
            Val::Null => Bind::Null,
            Val::Int(i) => Bind::Int(*i),
            Val::Text(s) => Bind::Text(s),
            Val::Str(s) => Bind::Text(s),
            Val::Shared(s) => Bind::Text(s),
        }
    }
}

fn bind_and_run(
    st: &mut RawStatement<'_>,
    ncols: usize,
    which: &[u32],
    rows: &[Row],
) -> Result<(), String> {
    for (k, &i) in which.iter().enumerate() {
        let vals = &rows[i as usize].vals;
        let vals = &vals[..vals.len().min(ncols)];
        let base = k * ncols + 1;
        for (c, v) in vals.iter().enumerate() {
            st.bind(base + c, v.bind())?;
        }
        for c in vals.len()..ncols {
            st.bind(base + c, Bind::Null)?;
        }
    }
    // The rows (and so the bound text) live until after this returns.
    st.execute()
}

/// Row batches queued for the writer before the producer blocks. A batch is a couple
/// of thousand packets' rows (a few MB; several seconds of live traffic). A short queue
/// is enough to keep both threads busy; a long one only holds memory: with 64 queued
/// and 64 spent batches a million-packet import peaked at 340 MB resident, with 6 and 4
/// at 159 MB, and ran about 10% faster (a smaller working set).
const QUEUED_BATCHES: usize = 6;

/// Written batches waiting to be freed by the producer; beyond this the writer frees
/// them itself (a producer that stopped writing never blocks the writer).
const SPENT_BATCHES: usize = 4;

fn writer_loop(
    conn: Connection,
    rx: Receiver<Cmd>,
    spent: SyncSender<Vec<Row>>,
    max_bytes: u64,
    status: Arc<Status>,
) {
    let mut ins = match Inserter::new(&conn) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("nanocap: preparing inserts failed: {e}");
            return;
        }
    };
    let mut in_tx = false;
    let mut rows_in_tx = 0usize;
    let mut since_check = 0usize;
    let mut tx_started = Instant::now();
    let mut full = false;

    let commit = |in_tx: &mut bool, rows: &mut usize| {
        if *in_tx {
            commit_tx(&conn, &status);
            *in_tx = false;
            *rows = 0;
        }
    };

    loop {
        let cmd = match rx.recv_timeout(COMMIT_INTERVAL) {
            Ok(c) => Some(c),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match cmd {
            None => commit(&mut in_tx, &mut rows_in_tx),
            Some(Cmd::Rows(rows)) => {
                status
                    .queue_rows
                    .fetch_sub(rows.len() as u64, Ordering::Relaxed);
                if full {
                    continue;
                }
                if !in_tx {
                    if let Err(e) = conn.execute_batch("BEGIN") {
                        eprintln!("nanocap: begin failed: {e}");
                        continue;
                    }
                    in_tx = true;
                    tx_started = Instant::now();
                }
                if let Err((t, e)) = ins.insert(&rows) {
                    status.db_errors.fetch_add(1, Ordering::Relaxed);
                    if status.db_errors.load(Ordering::Relaxed) < 10 {
                        eprintln!("nanocap: insert into {} failed: {e}", t.name());
                    }
                }
                rows_in_tx += rows.len();
                since_check += rows.len();
                let _ = spent.try_send(rows);
                if since_check >= SIZE_CHECK_ROWS {
                    since_check = 0;
                    if max_bytes > 0 && db_size(&conn) > max_bytes {
                        full = true;
                        status.max_db_size_reached.store(true, Ordering::Relaxed);
                        commit(&mut in_tx, &mut rows_in_tx);
                        continue;
                    }
                }
                if rows_in_tx >= COMMIT_ROWS || tx_started.elapsed() >= COMMIT_INTERVAL {
                    commit(&mut in_tx, &mut rows_in_tx);
                }
            }
            Some(Cmd::CreateIndices(reply)) => {
                commit(&mut in_tx, &mut rows_in_tx);
                if let Err(e) = create_indices(&conn) {
                    eprintln!("nanocap: creating indices failed: {e}");
                }
                // Back to WAL for whatever comes next (a live capture from the console).
                // A console query holding the file can delay the switch; the writer then
                // stays on the rollback journal, which is correct, only slower to share.
                let wal = (0..10).any(|i| {
                    if i > 0 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    set_journal_mode(&conn, "wal")
                });
                if !wal {
                    eprintln!("nanocap: could not switch the database back to WAL mode");
                }
                let _ = reply.send(());
            }
            Some(Cmd::Flush(reply)) => {
                commit(&mut in_tx, &mut rows_in_tx);
                let _ = reply.send(());
            }
            Some(Cmd::Destroy(reply)) => {
                commit(&mut in_tx, &mut rows_in_tx);
                let res = (|| -> anyhow::Result<i64> {
                    conn.execute_batch("BEGIN")?;
                    for def in TABLES {
                        conn.execute_batch(&format!("DELETE FROM {}", def.name))?;
                    }
                    let run = new_run(&conn, "destroy")?;
                    conn.execute_batch("COMMIT")?;
                    Ok(run)
                })();
                if res.is_err() {
                    let _ = conn.execute_batch("ROLLBACK");
                } else {
                    full = false;
                    status.max_db_size_reached.store(false, Ordering::Relaxed);
                }
                let _ = reply.send(res);
            }
            Some(Cmd::RunStats {
                received,
                dropped,
                if_dropped,
            }) => {
                commit(&mut in_tx, &mut rows_in_tx);
                let _ = conn.execute(
                    "UPDATE runs SET received = ?1, dropped = ?2, if_dropped = ?3 \
                     WHERE id_multiplier = (SELECT max(id_multiplier) FROM runs)",
                    params![received as i64, dropped as i64, if_dropped as i64],
                );
            }
        }
    }
    commit(&mut in_tx, &mut rows_in_tx);
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(conn: &Connection, sql: &str) -> Vec<String> {
        let mut st = conn.prepare(sql).unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// One flow: an open event and one TCP packet, plus one UDP packet.
    fn populate(conn: &Connection) {
        conn.execute_batch(
            "INSERT INTO connection_event (id, ipv, srcip, srcport, dstip, dstport, flowkey, event) \
             VALUES (1, 4, '10.0.0.1', 1, '10.0.0.2', 7075, 77, 'open connection'); \
             INSERT INTO packet (id, flow_key, ipv, msg_type, srcip, srcport, dstip, dstport, msg_name, protocol, channel) \
             VALUES (2, 77, 4, 3, '10.0.0.1', 1, '10.0.0.2', 7075, 'publish', 'tcp', 'realtime'), \
                    (3, 78, 4, 2, '10.0.0.3', 7075, '10.0.0.2', 7075, 'keepalive', 'udp', 'udp');",
        )
        .unwrap();
    }

    #[test]
    fn connection_view_derives_message_events_only_with_details() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = open_tables(&path, true, false).unwrap();
        populate(&conn);
        assert_eq!(
            strings(&conn, "SELECT event FROM connection ORDER BY id"),
            vec!["open connection", "publish"]
        );
        let packet_id: i64 = conn
            .query_row(
                "SELECT packet_id FROM connection WHERE event = 'publish'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(packet_id, 2);
        drop(conn);
        // Reopened without details: the same data, only the flow events.
        let conn = open_tables(&path, false, false).unwrap();
        assert_eq!(
            strings(&conn, "SELECT event FROM connection ORDER BY id"),
            vec!["open connection"]
        );
    }

    #[test]
    fn flow_trace_uses_both_indices() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_and_init(&dir.path().join("p.db")).unwrap();
        let mut st = conn
            .prepare("EXPLAIN QUERY PLAN SELECT * FROM connection WHERE flowkey = 77 ORDER BY id")
            .unwrap();
        let plan: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("idx_connection_flow"), "{plan}");
        assert!(plan.contains("idx_packet_flow"), "{plan}");
    }

    #[test]
    fn legacy_connection_table_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE connection (id INTEGER PRIMARY KEY, ipv INTEGER NOT NULL, \
                 srcip TEXT NOT NULL, srcport INTEGER NOT NULL, dstip TEXT NOT NULL, \
                 dstport INTEGER NOT NULL, flowkey INTEGER NOT NULL, event TEXT NOT NULL, \
                 time TIMESTAMP, time_usec INTEGER DEFAULT 0, channel TEXT, packet_id INTEGER); \
                 CREATE INDEX idx_connection_flow ON connection (flowkey); \
                 INSERT INTO connection (id, ipv, srcip, srcport, dstip, dstport, flowkey, event, packet_id) VALUES \
                 (1, 4, 'a', 1, 'b', 2, 77, 'open connection', NULL), \
                 (4, 4, 'a', 1, 'b', 2, 77, 'publish', 2), \
                 (5, 4, 'a', 1, 'b', 2, 77, 'close connection', NULL);",
            )
            .unwrap();
        }
        let conn = open_and_init(&path).unwrap();
        let kind: String = conn
            .query_row(
                "SELECT type FROM sqlite_master WHERE name = 'connection'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kind, "view");
        assert_eq!(
            strings(&conn, "SELECT event FROM connection_event ORDER BY id"),
            vec!["open connection", "close connection"]
        );
    }

    fn journal_mode(path: &Path) -> String {
        let c = Connection::open(path).unwrap();
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    }

    fn decode_error_row(id: i64) -> Row {
        Row {
            table: Table::DecodeError,
            vals: vec![
                id.into(),
                Val::Null,
                Val::Null,
                Val::Null,
                Val::Null,
                Val::Null,
                Val::Null,
                Val::Null,
                0i64.into(),
                "test".into(),
                Val::Text(format!("row {id}")),
            ],
        }
    }

    #[test]
    fn bulk_import_uses_a_rollback_journal_waits_for_readers_and_ends_in_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulk.db");
        let status = Arc::new(Status::default());
        let w = DbWriter::start(&path, "t", 0, status.clone(), true, true).unwrap();
        assert_eq!(journal_mode(&path), "delete");
        w.write((1..=100).map(decode_error_row).collect());
        w.flush();
        // A reader holds a read transaction while the writer commits more rows: the
        // commit waits for it instead of failing.
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let seen: i64 = reader
            .query_row("SELECT count(*) FROM decode_error", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 100);
        w.write((101..=200).map(decode_error_row).collect());
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            reader.execute_batch("COMMIT").unwrap();
        });
        w.flush();
        releaser.join().unwrap();
        w.create_indices();
        assert_eq!(journal_mode(&path), "wal");
        w.close();
        let c = Connection::open(&path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM decode_error", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
        assert_eq!(status.db_errors.load(Ordering::Relaxed), 0);
    }
}
