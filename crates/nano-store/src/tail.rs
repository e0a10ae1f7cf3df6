//! The ledger file's next pages, written ahead of LMDB one page per write
//! ([`FileTail`]), so that the kernel caches them in one-page folios.
//!
//! Why: Linux (ext4 and other filesystems with large folios, 6.x kernels) caches a
//! file's pages in folios as large as the write that first created them. LMDB grows
//! the file with multi-page writes (a commit's run of new pages at the end goes out in
//! one `writev` of up to 64 pages), so a file LMDB grew lives in 16–256 KiB folios. Most
//! pages a commit writes later are reused free pages rewritten one at a time, and the
//! kernel's cost of such a rewrite (its `pwrite` and the `fdatasync` writeback) grows
//! with the folio the page sits in. Measured on the development VM (6.18, ext4): a
//! 512 MiB file filled in 256 KiB writes cost 7.9–8.7 µs of kernel CPU per random page
//! rewritten and synced, the same file filled in 4 KiB writes 4.3–4.7 µs; the sync's
//! writer paid 7.7–10 µs per page in its commits (BENCHMARKS.md, Bootstrap).
//!
//! What is written: zero pages past LMDB's last used page, once the store has committed
//! a transaction (opening a ledger and closing it leaves the file as it was), from
//! inside each later write transaction before it writes anything (so LMDB's writer lock is held: no other
//! transaction, in this process or another, writes or grows the file meanwhile, and
//! every page written is one no committed state uses; this transaction's own pages
//! past the end are written by its commit, after these). The file's pages in use and
//! their bytes are exactly what LMDB wrote; the file may be up to [`TAIL_PAGES_MAX`]
//! pages longer than LMDB's last page, which LMDB allows (it reads its size from the
//! meta page, and the reference node opens such a file alike).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Pages kept written ahead of LMDB's last page, at least: 64 KiB, so a new ledger file
/// (a few pages) stays small; a small ledger's commits grow the file by a few pages
/// each (batches of 64 blocks, see the node's `write_batch_bound`), and what a
/// commit grows past the tail only keeps the kernel's larger folios for those pages.
pub const TAIL_PAGES_MIN: u64 = 16;

/// At most: a commit of 1,024 blocks grows a 10M-block file by ~140 pages (~565 bytes
/// per block); 1,024 pages (4 MiB) covers seven times that, and is under 0.1% of such
/// a file.
pub const TAIL_PAGES_MAX: u64 = 1024;

/// Between the two, this fraction of the file's pages (one page per 256 in use, as
/// many as the blocks of a write batch at that size): the tail grows with the file's
/// commits and stays under 0.4% of its size.
pub const TAIL_PAGES_DIVISOR: u64 = 256;

/// Pages to keep written past a last used page of `last_page`.
pub fn tail_pages(last_page: u64) -> u64 {
    (last_page / TAIL_PAGES_DIVISOR).clamp(TAIL_PAGES_MIN, TAIL_PAGES_MAX)
}

/// The tail also covers this many times what the file grew by since the previous write
/// transaction. While the file is small its commits grow it by far more than
/// [`tail_pages`] (a 64-block batch into a young ledger needs mostly new pages: 11 KiB of
/// page cache was still dirtied per 4 KiB page written in the 10M sync's first million,
/// against 5.4 in its last), and what a commit writes past the tail stays in the
/// kernel's large folios for the rest of the file's life. Two: the next commit may grow
/// the file more than the last one did.
pub const TAIL_GROWTH_FACTOR: u64 = 2;

/// Pages to keep written past `last_page` when the file grew by `growth` pages since the
/// previous write transaction: [`tail_pages`], or [`TAIL_GROWTH_FACTOR`] times the
/// growth, whichever is more, and never more than [`TAIL_PAGES_MAX`].
pub fn tail_pages_after(last_page: u64, growth: u64) -> u64 {
    tail_pages(last_page).max(
        growth
            .saturating_mul(TAIL_GROWTH_FACTOR)
            .min(TAIL_PAGES_MAX),
    )
}

/// The ledger file opened for writing its tail, and how far it is written.
#[derive(Debug)]
pub(crate) struct FileTail {
    file: File,
    page_size: u64,
    /// The most pages the file may hold: LMDB's map (it never uses a page past it).
    map_pages: u64,
    /// Pages the file holds (its length in pages), as far as this store knows.
    written_to: AtomicU64,
    /// Set after a failed write: the tail is an optimisation, never a reason for a
    /// transaction to fail, so a full disk stops it (LMDB reports the disk itself).
    failed: AtomicBool,
    /// Set once this store committed a transaction: until then no tail is written, so
    /// opening a ledger (whose first write transaction is usually aborted) and closing
    /// it leaves the file as it was.
    armed: AtomicBool,
    /// LMDB's last used page at the previous write transaction ([`NO_PAGE`] before the
    /// first): the file's growth since is the last commit's.
    last_seen: AtomicU64,
}

/// [`FileTail::last_seen`] before any write transaction.
const NO_PAGE: u64 = u64::MAX;

/// One zero page of the largest page size LMDB uses.
static ZERO_PAGE: [u8; 65_536] = [0; 65_536];

impl FileTail {
    /// The tail writer of the ledger file at `path`, whose LMDB pages are `page_size`
    /// bytes and whose map is `map_size` bytes. None when the page size is not one LMDB
    /// uses or the file cannot be opened for writing.
    pub(crate) fn open(path: &Path, page_size: u64, map_size: u64) -> Option<FileTail> {
        if page_size == 0 || page_size > ZERO_PAGE.len() as u64 {
            return None;
        }
        let file = std::fs::OpenOptions::new().write(true).open(path).ok()?;
        let len = file.metadata().ok()?.len();
        Some(FileTail {
            file,
            page_size,
            map_pages: map_size / page_size,
            written_to: AtomicU64::new(len.div_ceil(page_size)),
            failed: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            last_seen: AtomicU64::new(NO_PAGE),
        })
    }

    /// Called after each commit: from then on the tail is kept.
    pub(crate) fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Writes zero pages, one per write, from past `last_page` (LMDB's last used page
    /// as of the transaction the caller holds, which has written nothing yet) up to
    /// [`tail_pages_after`] past it; pages written before are left alone. Returns the
    /// pages written.
    pub(crate) fn extend(&self, last_page: u64) -> u64 {
        let before = self.last_seen.swap(last_page, Ordering::Relaxed);
        if self.failed.load(Ordering::Relaxed) || !self.armed.load(Ordering::Relaxed) {
            return 0;
        }
        let growth = match before {
            NO_PAGE => 0,
            b => last_page.saturating_sub(b),
        };
        let end = (last_page + 1 + tail_pages_after(last_page, growth)).min(self.map_pages);
        // Pages up to `last_page` are LMDB's; a page past it is free even if the file
        // holds it (a commit that failed part-way may have written it).
        let start = self.written_to.load(Ordering::Relaxed).max(last_page + 1);
        let zero = &ZERO_PAGE[..self.page_size as usize];
        let mut page = start;
        while page < end {
            if self.file.write_all_at(zero, page * self.page_size).is_err() {
                self.failed.store(true, Ordering::Relaxed);
                break;
            }
            page += 1;
        }
        self.written_to.fetch_max(page, Ordering::Relaxed);
        page.saturating_sub(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_scales_with_the_file_between_its_bounds() {
        assert_eq!(tail_pages(0), TAIL_PAGES_MIN);
        assert_eq!(
            tail_pages(TAIL_PAGES_MIN * TAIL_PAGES_DIVISOR),
            TAIL_PAGES_MIN
        );
        assert_eq!(tail_pages(500 * TAIL_PAGES_DIVISOR), 500);
        assert_eq!(tail_pages(u64::MAX), TAIL_PAGES_MAX);
    }

    #[test]
    fn extend_writes_only_past_the_last_page_and_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Three pages of "LMDB data".
        std::fs::write(&path, vec![7u8; 3 * 4096]).unwrap();
        let tail = FileTail::open(&path, 4096, 1 << 30).unwrap();
        // Nothing before the store's first commit.
        assert_eq!(tail.extend(2), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * 4096);
        tail.arm();
        // Last used page 2: pages 3..3+16 are written, the data untouched.
        assert_eq!(tail.extend(2), TAIL_PAGES_MIN);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, (3 + TAIL_PAGES_MIN) * 4096);
        assert!(bytes[..3 * 4096].iter().all(|b| *b == 7));
        assert!(bytes[3 * 4096..].iter().all(|b| *b == 0));
        // Nothing new while the tail is ahead; the missing pages when LMDB grew.
        assert_eq!(tail.extend(2), 0);
        // LMDB grew by 10 pages: the tail reaches twice that past page 12.
        assert_eq!(tail.extend(12), 13 + 20 - (3 + TAIL_PAGES_MIN));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (13 + 20) * 4096);
    }

    #[test]
    fn the_tail_covers_twice_the_last_growth_up_to_its_bound() {
        assert_eq!(tail_pages_after(0, 0), TAIL_PAGES_MIN);
        assert_eq!(tail_pages_after(100, 100), 200);
        assert_eq!(tail_pages_after(100, 5), TAIL_PAGES_MIN);
        assert_eq!(tail_pages_after(500 * TAIL_PAGES_DIVISOR, 100), 500);
        assert_eq!(tail_pages_after(100, u64::MAX), TAIL_PAGES_MAX);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 3 * 4096]).unwrap();
        let tail = FileTail::open(&path, 4096, 1 << 30).unwrap();
        tail.arm();
        assert_eq!(tail.extend(2), TAIL_PAGES_MIN);
        // A commit grew LMDB's pages from 3 to 103, past the tail: the pages from 103
        // to 200 past page 102 are written.
        assert_eq!(tail.extend(102), 200);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (103 + 200) * 4096);
        // No growth since: nothing more.
        assert_eq!(tail.extend(102), 0);
    }

    #[test]
    fn extend_stops_at_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        let tail = FileTail::open(&path, 4096, 10 * 4096).unwrap();
        tail.arm();
        assert_eq!(tail.extend(0), 9);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10 * 4096);
    }
}
