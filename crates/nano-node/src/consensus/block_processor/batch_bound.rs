//! How many checked blocks the writer takes into one write transaction: the configured
//! batch (`node.block_processor.batch_size`), lowered while the ledger file is small so
//! that what a batch leaves behind (about two batches of rewritten pages free in the
//! file, the largest batch's dirty pages kept in memory by LMDB) stays a small share of
//! the file; see [`BLOCK_BATCH_FILE_PAGES`].

use crate::consensus::limits::{BLOCK_BATCH_FILE_PAGES, BLOCK_BATCH_MIN};

/// Most blocks of the next write transaction on a ledger file of `file_pages` pages in
/// use, `configured` being the most any transaction takes: one block per
/// [`BLOCK_BATCH_FILE_PAGES`] pages, at least [`BLOCK_BATCH_MIN`], never above
/// `configured`, never zero.
pub(crate) fn write_batch_bound(configured: usize, file_pages: usize) -> usize {
    let by_file = (file_pages / BLOCK_BATCH_FILE_PAGES).max(BLOCK_BATCH_MIN);
    by_file.min(configured).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::limits::BLOCK_BATCH_MAX;

    /// Pages of a ledger file of `bytes` bytes (4 KiB pages).
    fn pages(bytes: usize) -> usize {
        bytes / 4096
    }

    #[test]
    fn a_small_file_gets_the_floor_a_large_one_the_configured_batch() {
        // A new ledger (a few pages) and the 100,000-block file (~58 MB): the floor.
        assert_eq!(write_batch_bound(BLOCK_BATCH_MAX, 10), BLOCK_BATCH_MIN);
        assert_eq!(
            write_batch_bound(BLOCK_BATCH_MAX, pages(58_000_000)),
            BLOCK_BATCH_MIN
        );
        // A million blocks (~550 MB): half the configured batch.
        assert_eq!(write_batch_bound(BLOCK_BATCH_MAX, pages(550_000_000)), 524);
        // From 1 GiB of file on, the configured batch; 10M blocks (5.5 GB) too.
        assert_eq!(write_batch_bound(BLOCK_BATCH_MAX, pages(1 << 30)), 1024);
        assert_eq!(
            write_batch_bound(BLOCK_BATCH_MAX, pages(5_505_781_760)),
            1024
        );
    }

    #[test]
    fn the_configured_batch_is_never_exceeded_and_the_bound_never_zero() {
        for configured in [0, 1, 16, BLOCK_BATCH_MIN, 256, BLOCK_BATCH_MAX, 4096] {
            let mut last = 0;
            for file_pages in (0..2_000_000).step_by(997) {
                let b = write_batch_bound(configured, file_pages);
                assert!(b >= 1, "configured {configured}, {file_pages} pages");
                assert!(b <= configured.max(1), "configured {configured}: {b}");
                // Grows with the file, never shrinks.
                assert!(b >= last, "configured {configured}: {b} after {last}");
                last = b;
                // Free pages of two batches at ~4 pages per block: a small share of
                // the file once past the floor.
                if b > BLOCK_BATCH_MIN {
                    assert!(2 * 4 * b * 100 <= 4 * file_pages, "{b} at {file_pages}");
                }
            }
            assert_eq!(
                last,
                configured.clamp(1, 2_000_000 / BLOCK_BATCH_FILE_PAGES)
            );
        }
    }
}
