//! How the ascending client frees the accounts it holds back (each waits for the send
//! its receive names): at once when the block processor reports that send inserted
//! ([`free_by_sends`]), and by a slow pass that looks blocked accounts' dependencies up
//! in the ledger in turn ([`fallback_pass`]) for what no report covers: a send inserted
//! before its receiver was blocked, sends the bounded report list did not keep, a
//! dependency that is no send to the blocked account (a peer's bad receive), an account
//! the full recheck list could not take. A freed account goes to the recheck list,
//! which continues its pull once what waited for the send has landed.
//!
//! The pass alone, 8,192 lookups every 250 ms whatever the sync rate, cost the client
//! about as much CPU as the block processor's writer on the 10M bench ledger.

use std::time::Instant;

use nano_core::{Account, BlockHash};

use super::blocked::BlockedSet;
use super::recheck::RecheckList;

/// Blocked accounts the fallback pass looks up each time while the block processor is
/// busy: reports free nearly every account then, and the pass mostly asks again for
/// dependencies whose answer went missing. 1,024 every 250 ms (4k lookups a second)
/// goes round the default 256 Ki blocked accounts in about a minute.
pub(crate) const FALLBACK_WINDOW: usize = 1024;
/// Blocked accounts looked up per pass once the processor has settled (nothing comes
/// that a report could announce: what is blocked waits for the pass and the dependency
/// walker) and after reports were missed: the former fixed rate.
pub(crate) const FULL_WINDOW: usize = 8192;
/// Missing dependencies one pass asks again at most (the cooldown and the walker's own
/// bound pace the rest).
pub(crate) const ASK_AGAIN_MAX: usize = 256;

/// Frees the blocked accounts whose dependency is one of `sends` (hash, destination).
/// Returns how many went to the recheck list; one the full list cannot take stays
/// blocked for the fallback pass.
pub(crate) fn free_by_sends(
    blocked: &mut BlockedSet,
    recheck: &mut RecheckList,
    sends: &[(BlockHash, Account)],
    now: Instant,
    mut on_freed: impl FnMut(&Account),
) -> usize {
    if blocked.is_empty() {
        return 0;
    }
    let mut freed = 0;
    for (hash, to) in sends {
        if blocked.get(to) == Some(hash) && recheck.push_new(*to, now) {
            blocked.remove(to);
            on_freed(to);
            freed += 1;
        }
    }
    freed
}

/// Looks up the dependencies of the next `window` blocked accounts in turn (each goes
/// to the back of the turn): those that `exists` free their account as a report would.
/// Returns the dependencies still missing, at most [`ASK_AGAIN_MAX`], to be asked again.
pub(crate) fn fallback_pass(
    blocked: &mut BlockedSet,
    recheck: &mut RecheckList,
    window: usize,
    mut exists: impl FnMut(&BlockHash) -> bool,
    now: Instant,
    mut on_freed: impl FnMut(&Account),
) -> Vec<BlockHash> {
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for (account, dep) in blocked.take_turns(window) {
        if exists(&dep) {
            ready.push(account);
        } else if waiting.len() < ASK_AGAIN_MAX {
            waiting.push(dep);
        }
    }
    for a in ready {
        // With the recheck list full it stays blocked (its dependency is there, so the
        // next pass finds it ready again).
        if recheck.push_new(a, now) {
            blocked.remove(&a);
            on_freed(&a);
        } else {
            blocked.send_back(&a);
        }
    }
    waiting
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::bootstrap::recheck::RECHECK_FIRST;

    fn account(n: u8) -> Account {
        Account::from_bytes([n; 32])
    }

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_bytes([n; 32])
    }

    /// The reported send frees the account waiting for it, and it is looked at again
    /// (the recheck list hands it back to be pulled) with no pass run at all.
    #[test]
    fn a_reported_send_frees_its_receiver_at_once() {
        let now = Instant::now();
        let mut blocked = BlockedSet::new(16);
        let mut recheck = RecheckList::new(16);
        assert!(blocked.block(account(1), hash(10)));
        assert!(blocked.block(account(2), hash(20)));
        // Other sends, or the right hash to another account, free nobody.
        let others = [(hash(11), account(1)), (hash(10), account(3))];
        assert_eq!(
            free_by_sends(&mut blocked, &mut recheck, &others, now, |_| {}),
            0
        );
        assert_eq!(blocked.len(), 2);
        let sends = [(hash(10), account(1))];
        assert_eq!(
            free_by_sends(&mut blocked, &mut recheck, &sends, now, |_| {}),
            1
        );
        assert!(!blocked.contains_key(&account(1)));
        assert!(blocked.contains_key(&account(2)));
        let due = recheck.take_due(now + RECHECK_FIRST);
        assert_eq!(
            due.iter().map(|r| r.account).collect::<Vec<_>>(),
            [account(1)]
        );
    }

    /// A send inserted before its receiver was blocked is never reported again: the
    /// pass finds it in the ledger and frees the account; the others' dependencies are
    /// asked again.
    #[test]
    fn the_pass_frees_an_account_whose_send_came_before_it_was_blocked() {
        let now = Instant::now();
        let mut blocked = BlockedSet::new(16);
        let mut recheck = RecheckList::new(16);
        let ledger: HashSet<BlockHash> = [hash(10)].into();
        // Reported before the account blocked: nobody waited for it then.
        assert_eq!(
            free_by_sends(
                &mut blocked,
                &mut recheck,
                &[(hash(10), account(1))],
                now,
                |_| {}
            ),
            0
        );
        assert!(blocked.block(account(1), hash(10)));
        assert!(blocked.block(account(2), hash(20)));
        let missing = fallback_pass(
            &mut blocked,
            &mut recheck,
            16,
            |h| ledger.contains(h),
            now,
            |_| {},
        );
        assert_eq!(missing, [hash(20)]);
        assert!(!blocked.contains_key(&account(1)));
        assert!(blocked.contains_key(&account(2)));
        assert_eq!(recheck.len(), 1);
    }

    /// With the recheck list full, a reported or found account stays blocked and a
    /// later pass frees it once there is room; neither list grows past its bound.
    #[test]
    fn a_full_recheck_list_keeps_accounts_blocked_within_bounds() {
        let now = Instant::now();
        let mut blocked = BlockedSet::new(4);
        let mut recheck = RecheckList::new(1);
        for n in 1..=6 {
            let taken = blocked.block(account(n), hash(n + 100));
            assert_eq!(taken, n <= 4, "account {n}");
        }
        let sends: Vec<_> = (1..=4).map(|n| (hash(n + 100), account(n))).collect();
        assert_eq!(
            free_by_sends(&mut blocked, &mut recheck, &sends, now, |_| {}),
            1
        );
        assert_eq!((blocked.len(), recheck.len()), (3, 1));
        let all = |_: &BlockHash| true;
        assert!(
            fallback_pass(&mut blocked, &mut recheck, FULL_WINDOW, all, now, |_| {}).is_empty()
        );
        assert_eq!((blocked.len(), recheck.len()), (3, 1));
        // The list empties (its account looked at): the next pass frees one more.
        assert_eq!(recheck.take_due(now + RECHECK_FIRST).len(), 1);
        fallback_pass(&mut blocked, &mut recheck, FULL_WINDOW, all, now, |_| {});
        assert_eq!((blocked.len(), recheck.len()), (2, 1));
    }

    /// A pass looks at `window` accounts, in turn, and asks again for at most
    /// [`ASK_AGAIN_MAX`] missing dependencies.
    #[test]
    fn a_pass_looks_at_its_window_in_turn() {
        let now = Instant::now();
        let mut blocked = BlockedSet::new(1000);
        let mut recheck = RecheckList::new(1000);
        let acct = |n: u32| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&n.to_le_bytes());
            Account::from_bytes(b)
        };
        let dep = |n: u32| {
            let mut b = [1u8; 32];
            b[..4].copy_from_slice(&n.to_le_bytes());
            BlockHash::from_bytes(b)
        };
        for n in 0..600 {
            blocked.block(acct(n), dep(n));
        }
        let mut looked = Vec::new();
        let missing = fallback_pass(
            &mut blocked,
            &mut recheck,
            FALLBACK_WINDOW.min(300),
            |h| {
                looked.push(*h);
                false
            },
            now,
            |_| {},
        );
        assert_eq!(looked, (0..300).map(dep).collect::<Vec<_>>());
        assert_eq!(missing.len(), ASK_AGAIN_MAX);
        looked.clear();
        fallback_pass(
            &mut blocked,
            &mut recheck,
            300,
            |h| {
                looked.push(*h);
                false
            },
            now,
            |_| {},
        );
        assert_eq!(looked, (300..600).map(dep).collect::<Vec<_>>());
    }
}
