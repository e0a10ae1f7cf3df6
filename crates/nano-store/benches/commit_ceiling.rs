//! The disk's ceiling for the ledger's commit pattern, without LMDB: what one write
//! transaction's commit asks of the file system, repeated as fast as the disk allows.
//! A commit here is `pages` random 4 KiB `pwrite`s over a file the size of the ledger
//! (distinct pages, written in ascending order, as LMDB flushes its dirty pages), then
//! `fdatasync`, then one 4 KiB meta page written through a second descriptor opened
//! with `O_DSYNC` (LMDB's two meta pages, alternately). Per page count it prints commits
//! per second, MB/s of pages and the time of each step, so the sync's writer (its
//! commits per second and pages per commit, from the bootstrap bench's I/O figures) can
//! be set against what the disk does with the same pattern.
//!
//! `cargo bench -p nano-store --bench commit_ceiling`; settings from the environment:
//! `NANO_COMMIT_BENCH_FILE` (default `target/commit-ceiling.dat`; written once at its
//! size, deleted at the end unless `NANO_COMMIT_BENCH_KEEP=1`),
//! `NANO_COMMIT_BENCH_SIZE` (bytes, default 5.5 GB, the 10M-block ledger's size),
//! `NANO_COMMIT_BENCH_PAGES` (page counts per commit, comma-separated),
//! `NANO_COMMIT_BENCH_SECS` (seconds per page count, default 20).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// LMDB's page size on this platform, and the unit of every write here.
const PAGE: u64 = 4096;
/// Commits per page count at most, whatever the time allows (a bound on the loop).
const COMMITS_MAX: u64 = 1_000_000;
/// The fill's write size when the file is created: one page per `write`, so the page
/// cache holds the file in single-page folios. (Filled in 1 MiB writes, ext4 here
/// cached it in large folios; each 4 KiB `pwrite` then dirtied a whole folio, and the
/// dirty-page throttle held the commits far below what LMDB's own reach.)
const FILL_CHUNK: usize = PAGE as usize;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small, seeded generator (SplitMix64): the same pages on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The file at `size` bytes, every page written (not sparse: LMDB's pages exist), and
/// synced, so the commits that follow overwrite allocated blocks as LMDB's do.
fn prepare(path: &PathBuf, size: u64) -> File {
    if std::fs::metadata(path).map_or(true, |m| m.len() != size) {
        let started = Instant::now();
        let mut f = File::create(path).unwrap();
        let chunk = vec![0x5au8; FILL_CHUNK];
        let mut left = size;
        while left > 0 {
            let n = left.min(FILL_CHUNK as u64) as usize;
            f.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        f.sync_all().unwrap();
        println!(
            "filled {} ({size} bytes) in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// The time of each step over a run of commits.
#[derive(Default)]
struct Steps {
    commits: u64,
    /// Pages written (the distinct pages of each commit).
    pages: u64,
    pwrite: Duration,
    fdatasync: Duration,
    meta: Duration,
}

/// This process's `write_bytes` (`/proc/self/io`): bytes it dirtied in the page cache,
/// each dirtied folio counted whole.
fn dirtied_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn run(
    data: &File,
    meta: &File,
    pages_in_file: u64,
    pages: u64,
    secs: f64,
    rng: &mut Rng,
) -> Steps {
    let page = vec![0xa5u8; PAGE as usize];
    let mut s = Steps::default();
    let started = Instant::now();
    let mut offsets = Vec::with_capacity(pages as usize);
    while s.commits < COMMITS_MAX && started.elapsed().as_secs_f64() < secs {
        offsets.clear();
        // Pages 0 and 1 are the meta pages; the data pages are the rest.
        offsets.extend((0..pages).map(|_| 2 + rng.next() % (pages_in_file - 2)));
        offsets.sort_unstable();
        offsets.dedup();
        let t = Instant::now();
        for &p in &offsets {
            data.write_all_at(&page, p * PAGE).unwrap();
        }
        let t2 = Instant::now();
        data.sync_data().unwrap();
        let t3 = Instant::now();
        meta.write_all_at(&page, (s.commits % 2) * PAGE).unwrap();
        let t4 = Instant::now();
        s.pwrite += t2 - t;
        s.fdatasync += t3 - t2;
        s.meta += t4 - t3;
        s.commits += 1;
        s.pages += offsets.len() as u64;
    }
    s
}

fn main() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path: PathBuf = std::env::var("NANO_COMMIT_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("commit-ceiling.dat"));
    let size: u64 = env_or("NANO_COMMIT_BENCH_SIZE", 5_500_000_000u64) / PAGE * PAGE;
    let secs: f64 = env_or("NANO_COMMIT_BENCH_SECS", 20.0);
    let counts: Vec<u64> = std::env::var("NANO_COMMIT_BENCH_PAGES")
        .unwrap_or_else(|_| "1,100,1000,2500,5000,10000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let pages_in_file = size / PAGE;
    assert!(pages_in_file > 2, "NANO_COMMIT_BENCH_SIZE too small");
    let data = prepare(&path, size);
    let meta = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(&path)
        .unwrap();
    let mut rng = Rng(18);
    println!(
        "commit pattern over {} ({size} bytes), {secs} s per page count",
        path.display()
    );
    for pages in counts {
        let dirtied = dirtied_bytes();
        let s = run(&data, &meta, pages_in_file, pages, secs, &mut rng);
        let dirtied = dirtied_bytes() - dirtied;
        let n = s.commits.max(1) as f64;
        let total = (s.pwrite + s.fdatasync + s.meta).as_secs_f64();
        println!(
            "pages per commit {pages:>6}: {} commits in {total:.1} s = {:.1} commits/s, \
             {:.0} pages/s = {:.1} MB/s; per commit: pwrite {:.2} ms, fdatasync {:.2} ms, \
             meta (O_DSYNC) {:.2} ms; page cache dirtied {:.1} KiB per page written",
            s.commits,
            n / total,
            s.pages as f64 / total,
            (s.pages * PAGE) as f64 / total / 1e6,
            s.pwrite.as_secs_f64() * 1e3 / n,
            s.fdatasync.as_secs_f64() * 1e3 / n,
            s.meta.as_secs_f64() * 1e3 / n,
            dirtied as f64 / 1024.0 / (s.pages + s.commits).max(1) as f64,
        );
    }
    if std::env::var("NANO_COMMIT_BENCH_KEEP").as_deref() != Ok("1") {
        let _ = std::fs::remove_file(&path);
    }
}
