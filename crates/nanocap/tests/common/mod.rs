//! Shared helpers: import synthetic captures into a fresh database and count rows.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use nanocap::config::Config;
use nanocap::engine::{Engine, Report};
use nanocap::status::Status;

pub struct Imported {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub report: Report,
}

/// Writes `bytes` to a file and imports it with the default config.
pub fn import_bytes(bytes: &[u8], name: &str) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let db = dir.path().join("capture.db");
    let report = import_file(&file, &db, Config::default());
    Imported { dir, db, report }
}

pub fn import_file(file: &Path, db: &Path, cfg: Config) -> Report {
    let status = Arc::new(Status::default());
    let mut engine = Engine::new(
        cfg,
        db,
        &file.display().to_string(),
        status,
        Arc::new(AtomicBool::new(false)),
        true,
    )
    .unwrap();
    let report = engine.import(file, false, None).unwrap();
    engine.close();
    report
}

pub fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

pub fn rows(db: &Path, table: &str) -> i64 {
    count(db, &format!("select count(*) from {table}"))
}

pub fn strings(db: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}
