//! Insert statements driven through the SQLite C API directly. The writer thread binds
//! about four values per captured packet, and rusqlite's safe binding copies every text
//! value into SQLite-owned memory (`SQLITE_TRANSIENT`) behind a `RefCell` borrow; binding
//! with `SQLITE_STATIC` instead lets SQLite read the row's own strings in place, which is
//! valid because a row outlives the `step` that consumes it. Also owns the process-wide
//! SQLite setup that must happen before the library initialises.

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;
use std::sync::Once;

use rusqlite::{ffi, Connection};

/// Turns off SQLite's global memory statistics, which take a global mutex on every
/// allocation. Must run before the library initialises, so every connection this crate
/// opens calls it first; if some other code initialised SQLite earlier, the call is
/// refused and nothing changes (statistics on is only slower, not wrong).
pub fn configure_sqlite() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is documented as callable before initialisation; after
        // it, it returns SQLITE_MISUSE without side effects. The variadic argument is the
        // int the MEMSTATUS option expects.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
        }
    });
}

/// A value to bind: the subset of SQLite types the capture tables use.
pub enum Bind<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

/// A prepared statement; the borrow keeps its connection alive and on this thread (raw
/// pointers make it neither `Send` nor `Sync`).
pub struct RawStatement<'c> {
    stmt: *mut ffi::sqlite3_stmt,
    db: *mut ffi::sqlite3,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> RawStatement<'c> {
    /// Prepares `sql` as a persistent statement on `conn`.
    pub fn prepare(conn: &'c Connection, sql: &str) -> Result<RawStatement<'c>, String> {
        // SAFETY: the handle is valid while `conn` lives; the caller keeps `conn` alive
        // for the statement's whole life.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| "statement too long".to_string())?;
        // SAFETY: `sql` points to `len` valid bytes; `stmt` receives the new statement.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr() as *const c_char,
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK || stmt.is_null() {
            return Err(errmsg(db));
        }
        Ok(RawStatement {
            stmt,
            db,
            _conn: PhantomData,
        })
    }

    /// Binds parameter `idx` (1-based). Text is bound without copying: it must stay
    /// alive and unchanged until [`RawStatement::execute`] returns.
    pub fn bind(&mut self, idx: usize, v: Bind<'_>) -> Result<(), String> {
        let i = c_int::try_from(idx).map_err(|_| "parameter index out of range".to_string())?;
        // SAFETY: `self.stmt` is a live statement; text pointers stay valid until the
        // statement is reset in `execute` (the caller's contract above).
        let rc = unsafe {
            match v {
                Bind::Null => ffi::sqlite3_bind_null(self.stmt, i),
                Bind::Int(n) => ffi::sqlite3_bind_int64(self.stmt, i, n),
                Bind::Text(s) => ffi::sqlite3_bind_text64(
                    self.stmt,
                    i,
                    s.as_ptr() as *const c_char,
                    s.len() as u64,
                    ffi::SQLITE_STATIC(),
                    ffi::SQLITE_UTF8 as u8,
                ),
            }
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(errmsg(self.db))
        }
    }

    /// Runs the statement to completion and resets it; bound values are released from
    /// SQLite's view before this returns, so the caller may then drop them.
    pub fn execute(&mut self) -> Result<(), String> {
        // SAFETY: `self.stmt` is a live statement with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(self.stmt) };
        let res = if rc == ffi::SQLITE_DONE || rc == ffi::SQLITE_ROW {
            Ok(())
        } else {
            Err(errmsg(self.db))
        };
        // SAFETY: as above. Clearing the bindings drops SQLite's pointers to the
        // caller's strings (reset alone would keep them bound).
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
        res
    }
}

impl Drop for RawStatement<'_> {
    fn drop(&mut self) {
        // SAFETY: finalising a statement we prepared, exactly once.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
        }
    }
}

fn errmsg(db: *mut ffi::sqlite3) -> String {
    // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the connection,
    // copied out here before any other call can change it.
    unsafe {
        let p = ffi::sqlite3_errmsg(db);
        if p.is_null() {
            "unknown SQLite error".to_string()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_every_kind_and_reports_errors() {
        configure_sqlite();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INTEGER NOT NULL)")
            .unwrap();
        let mut st = RawStatement::prepare(&conn, "INSERT INTO t VALUES (?1, ?2, ?3)").unwrap();
        {
            let text = String::from("hello");
            st.bind(1, Bind::Int(7)).unwrap();
            st.bind(2, Bind::Text(&text)).unwrap();
            st.bind(3, Bind::Int(-1)).unwrap();
            st.execute().unwrap();
        }
        st.bind(1, Bind::Int(8)).unwrap();
        st.bind(2, Bind::Null).unwrap();
        st.bind(3, Bind::Null).unwrap();
        let err = st.execute().unwrap_err();
        assert!(err.contains("NOT NULL"), "{err}");
        let rows: Vec<(i64, Option<String>, i64)> = conn
            .prepare("SELECT a, b, c FROM t")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![(7, Some("hello".into()), -1)]);
        match RawStatement::prepare(&conn, "INSERT INTO nope VALUES (1)") {
            Err(e) => assert!(e.contains("no such table"), "{e}"),
            Ok(_) => panic!("prepared a statement on a missing table"),
        }
        assert!(st.bind(99, Bind::Int(1)).is_err());
    }
}
