//! The README promises that each example query uses an index. This runs every query of
//! its "Example queries" block through `EXPLAIN QUERY PLAN` on a database with the
//! schema and indices, and fails on any full scan of a table (a `SCAN t` step that uses
//! no index), so an index dropped or a query added without one is caught.

use rusqlite::Connection;

const README: &str = include_str!("../README.md");

fn example_queries() -> Vec<String> {
    let start = README
        .find("### Example queries")
        .expect("README has an example queries section");
    let block = &README[start..];
    let sql_start = block.find("```sql").expect("sql block") + "```sql".len();
    let sql_end = sql_start + block[sql_start..].find("```").expect("end of block");
    block[sql_start..sql_end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        // Placeholders become concrete literals of the right type.
        .map(|l| l.replace('…', "ABC"))
        .collect()
}

#[test]
fn every_readme_example_query_uses_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    nanocap::db::open_and_init(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let queries = example_queries();
    assert!(queries.len() >= 10, "{queries:?}");
    for q in &queries {
        let mut st = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", q.trim_end_matches(';')))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let steps: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for s in &steps {
            let full_scan = s.starts_with("SCAN ") && !s.contains("INDEX");
            assert!(!full_scan, "{q}\n  plan: {steps:?}");
        }
    }
}
