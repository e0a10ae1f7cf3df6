//! Read-only SQL for the web console and REST API. Each query gets its own connection
//! opened with `SQLITE_OPEN_READ_ONLY`, `PRAGMA query_only`, an authorizer that allows
//! only reads, and a time limit, so nothing sent over HTTP can change or attach anything.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

/// Longest a console query may run.
pub const QUERY_TIME_LIMIT: Duration = Duration::from_secs(15);

/// A query result in the reference's shape: column names and rows of text (or null).
#[derive(Debug, Serialize, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows existed than the cap allowed.
    pub truncated: bool,
}

/// Pragmas that only read and take a table or index name as their argument.
const READ_PRAGMAS_WITH_ARG: &[&str] = &[
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];
/// Pragmas that are harmless without an argument.
const READ_PRAGMAS: &[&str] = &[
    "page_count",
    "page_size",
    "table_list",
    "database_list",
    "freelist_count",
    "user_version",
    "schema_version",
    "compile_options",
    "journal_mode",
];

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            let ok = match pragma_value {
                None => READ_PRAGMAS.contains(&name.as_str()),
                Some(_) => READ_PRAGMAS_WITH_ARG.contains(&name.as_str()),
            };
            if ok {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Deny,
    }
}

/// Opens the capture database for reading with every guard in place.
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    crate::sqlraw::configure_sqlite();
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "mmap_size", crate::db::MMAP_SIZE)?;
    conn.pragma_update(None, "query_only", true)?;
    let start = Instant::now();
    conn.progress_handler(10_000, Some(move || start.elapsed() > QUERY_TIME_LIMIT))?;
    conn.authorizer(Some(authorize))?;
    Ok(conn)
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(nano_core::numbers::encode_hex_upper(b)),
    }
}

/// Runs one read-only statement and returns at most `max_rows` rows.
pub fn run_query(path: &Path, sql: &str, max_rows: usize) -> Result<QueryResult, String> {
    let conn = open_read_only(path).map_err(|e| e.to_string())?;
    let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
    if !stmt.readonly() {
        return Err("only read-only statements are allowed".into());
    }
    let columns: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut it = stmt.query([]).map_err(|e| e.to_string())?;
    loop {
        match it.next() {
            Ok(Some(r)) => {
                if rows.len() >= max_rows {
                    truncated = true;
                    break;
                }
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(r.get_ref(i).ok().and_then(text));
                }
                rows.push(out);
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(QueryResult {
        columns,
        rows,
        truncated,
    })
}

/// One column as `PRAGMA table_info` describes it.
#[derive(Debug, Serialize)]
pub struct ColumnInfo {
    pub cid: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub notnull: i64,
    pub dflt_value: Option<String>,
    pub pk: i64,
}

/// One table of the schema.
#[derive(Debug, Serialize)]
pub struct TableInfo {
    pub table: String,
    pub columns: Vec<ColumnInfo>,
}

/// The live schema of the database, table by table.
pub fn schema(path: &Path) -> Result<Vec<TableInfo>, String> {
    let conn = open_read_only(path).map_err(|e| e.to_string())?;
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for name in names {
        let mut stmt = conn
            .prepare(
                "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)",
            )
            .map_err(|e| e.to_string())?;
        let columns = stmt
            .query_map([&name], |r| {
                Ok(ColumnInfo {
                    cid: r.get(0)?,
                    name: r.get(1)?,
                    ty: r.get(2)?,
                    notnull: r.get(3)?,
                    dflt_value: r.get_ref(4).ok().and_then(text),
                    pk: r.get(5)?,
                })
            })
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| e.to_string())?;
        out.push(TableInfo {
            table: name,
            columns,
        });
    }
    Ok(out)
}

/// Rows in `packet`.
pub fn count_packets(path: &Path) -> Result<i64, String> {
    let conn = open_read_only(path).map_err(|e| e.to_string())?;
    conn.query_row("SELECT count(*) FROM packet", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_attach_and_pragmas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        crate::db::open_and_init(&path).unwrap();
        let ok = run_query(&path, "select count(*) as n from packet", 10).unwrap();
        assert_eq!(ok.columns, vec!["n"]);
        assert_eq!(ok.rows, vec![vec![Some("0".to_string())]]);
        assert!(run_query(&path, "pragma table_info(packet)", 100).is_ok());
        for bad in [
            "insert into packet (flow_key, ipv, msg_type) values (1,4,2)",
            "delete from packet",
            "drop table packet",
            "create table x (a)",
            "attach database ':memory:' as m",
            "pragma query_only = 0",
            "pragma journal_mode = delete",
            "pragma writable_schema = 1",
            "select 1; delete from packet",
            "vacuum",
            "begin",
            "select load_extension('x')",
        ] {
            assert!(run_query(&path, bad, 10).is_err(), "{bad} was allowed");
        }
        let big = run_query(
            &path,
            "with recursive c(x) as (select 1 union all select x+1 from c limit 20) select x from c",
            5,
        )
        .unwrap();
        assert_eq!(big.rows.len(), 5);
        assert!(big.truncated);
    }
}
