//! A look at a ledger file's LMDB header before LMDB maps it.
//!
//! LMDB maps the file and trusts its meta page: a file cut short (an interrupted
//! download or copy of a snapshot) would make LMDB touch pages past the end of the file,
//! which kills the process with SIGBUS instead of returning an error. So the two meta
//! pages are read here first, and a file that is not LMDB or is shorter than its newest
//! meta page says is refused with a clear error, without opening (or changing) it.
//!
//! Layout read (LMDB 0.9 data format 1, 64-bit; the same in every LMDB the reference,
//! RsNano and this node link): a 16-byte page header, then the meta record: magic
//! `0xBEEFC0DE` (u32), data version 1 (u32), address (8), map size (8), two 48-byte
//! database records (the free-list record's first u32 holds the page size), the last
//! used page number (u64), the transaction id (u64). Meta page 1 starts one page in.
//! Host byte order (little-endian on every supported host).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{Result, StoreError};

const PAGE_HEADER: usize = 16;
const MAGIC: u32 = 0xBEEF_C0DE;
const DATA_VERSION: u32 = 1;
const META_PAGE_FLAG: u16 = 0x08;
const PSIZE_AT: usize = PAGE_HEADER + 24;
const LAST_PAGE_AT: usize = PAGE_HEADER + 24 + 2 * 48;
const TXNID_AT: usize = LAST_PAGE_AT + 8;
/// LMDB's page sizes are powers of two between these (it uses the OS page size).
const MIN_PAGE: u32 = 512;
const MAX_PAGE: u32 = 65_536;

struct Meta {
    psize: u32,
    last_page: u64,
    txnid: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn meta_at(page: &[u8]) -> Option<Meta> {
    if page.len() < TXNID_AT + 8
        || u16_at(page, 10) & META_PAGE_FLAG == 0
        || u32_at(page, PAGE_HEADER) != MAGIC
        || u32_at(page, PAGE_HEADER + 4) != DATA_VERSION
    {
        return None;
    }
    let psize = u32_at(page, PSIZE_AT);
    if !psize.is_power_of_two() || !(MIN_PAGE..=MAX_PAGE).contains(&psize) {
        return None;
    }
    Some(Meta {
        psize,
        last_page: u64_at(page, LAST_PAGE_AT),
        txnid: u64_at(page, TXNID_AT),
    })
}

/// Refuses `path` unless it looks like a whole LMDB data file.
pub(crate) fn check_file(path: &Path) -> Result<()> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    if size == 0 {
        return Err(StoreError::NotLedger("the file is empty".into()));
    }
    let mut head = vec![0u8; (MAX_PAGE as usize + TXNID_AT + 8).min(size as usize)];
    f.read_exact(&mut head)?;
    let Some(m0) = meta_at(&head) else {
        return Err(StoreError::NotLedger(
            "no LMDB meta page at its start".into(),
        ));
    };
    let second = m0.psize as usize;
    let m1 = head.get(second..).and_then(meta_at);
    // LMDB uses the meta page with the higher transaction id; a torn second page falls
    // back to the first, as LMDB does.
    let newest = match m1 {
        Some(m1) if m1.txnid > m0.txnid => m1,
        _ => m0,
    };
    let needed = newest
        .last_page
        .saturating_add(1)
        .saturating_mul(newest.psize as u64);
    if size < needed {
        return Err(StoreError::Truncated { size, needed });
    }
    Ok(())
}
