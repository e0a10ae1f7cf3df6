//! The sends the writer inserted, kept for the ascending bootstrap client while it
//! watches. An account the client holds back waits for one block: the send whose
//! receive it could not process. Hearing of that send here frees the account at once;
//! looking every blocked account's dependency up in the ledger in turn instead cost
//! the client about 32k lookups a second whatever the sync rate (BENCHMARKS.md, "Where
//! a synced block's time goes").
//!
//! Bounded: the client takes the list every few milliseconds; if it falls behind by
//! [`SENDS_MAX`] sends, later ones are not kept and the next take says so, so the
//! client looks its blocked accounts up in the ledger instead.

use nano_core::{Account, Block, BlockHash};
use nano_ledger::{BlockSubtype, Processed};

/// Sends kept between two takes (64 bytes each, 4 MB at most): several seconds of the
/// fastest sync measured here (~11k blocks a second, about half of them sends), where
/// the client takes them every 10 ms.
pub(crate) const SENDS_MAX: usize = 65_536;

#[derive(Debug, Default)]
pub(crate) struct InsertedSends {
    watching: bool,
    sends: Vec<(BlockHash, Account)>,
    /// Sends were inserted and not kept since the last take.
    missed: bool,
}

impl InsertedSends {
    /// Starts or stops keeping sends; either way the list starts empty.
    pub(crate) fn watch(&mut self, on: bool) {
        self.watching = on;
        self.sends = Vec::new();
        self.missed = false;
    }

    pub(crate) fn watching(&self) -> bool {
        self.watching
    }

    /// Keeps `sends` (hash, destination) if someone watches and there is room.
    pub(crate) fn extend(&mut self, sends: &[(BlockHash, Account)]) {
        if !self.watching {
            return;
        }
        let room = SENDS_MAX.saturating_sub(self.sends.len());
        if sends.len() > room {
            self.missed = true;
        }
        self.sends
            .extend_from_slice(&sends[..sends.len().min(room)]);
    }

    /// Moves the kept sends into `into` (cleared first; its allocation is reused for the
    /// next ones). True if some were not kept since the last take.
    pub(crate) fn take(&mut self, into: &mut Vec<(BlockHash, Account)>) -> bool {
        into.clear();
        std::mem::swap(into, &mut self.sends);
        std::mem::take(&mut self.missed)
    }
}

/// The destination of `block` if the writer inserted it as a send.
pub(crate) fn send_destination(block: &Block, processed: &Processed) -> Option<Account> {
    if processed.subtype != BlockSubtype::Send {
        return None;
    }
    match block {
        Block::State(s) => Some(s.link.as_account()),
        _ => block.destination_field(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(n: u8) -> (BlockHash, Account) {
        (
            BlockHash::from_bytes([n; 32]),
            Account::from_bytes([n ^ 0xff; 32]),
        )
    }

    #[test]
    fn keeps_sends_only_while_watched() {
        let mut s = InsertedSends::default();
        let mut out = Vec::new();
        s.extend(&[send(1)]);
        assert!(!s.take(&mut out));
        assert!(out.is_empty());
        s.watch(true);
        s.extend(&[send(2), send(3)]);
        s.extend(&[send(4)]);
        assert!(!s.take(&mut out));
        assert_eq!(out, vec![send(2), send(3), send(4)]);
        assert!(!s.take(&mut out));
        assert!(out.is_empty());
        s.watch(false);
        s.extend(&[send(5)]);
        assert!(!s.take(&mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn a_full_list_keeps_what_fits_and_reports_the_rest_missed() {
        let mut s = InsertedSends::default();
        s.watch(true);
        let many = vec![send(7); SENDS_MAX - 1];
        s.extend(&many);
        s.extend(&[send(8), send(9)]);
        let mut out = Vec::new();
        assert!(s.take(&mut out), "one send did not fit");
        assert_eq!(out.len(), SENDS_MAX);
        assert_eq!(out.last(), Some(&send(8)));
        // Reported once; the next take starts over.
        s.extend(&[send(10)]);
        assert!(!s.take(&mut out));
        assert_eq!(out, vec![send(10)]);
    }
}
