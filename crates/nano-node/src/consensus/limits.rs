//! Every bound of consensus intake in one place, each with the reason for its value.
//! Peers and clients can only grow what is named here (or in [`super::ConsensusConfig`],
//! whose defaults come from here). Values marked "reference" are the defaults of the
//! reference node (`nodeconfig.cpp`, `block_processor.hpp`, `vote_processor.hpp`,
//! `request_aggregator.hpp`, `vote_cache.hpp`); the others say why this node differs.

use super::fair_queue::SourceLimits;
use super::online::RepTier;

// ---- Block processor -------------------------------------------------------------

/// Blocks queued per realtime peer. The reference queues 128 per peer, sized for its
/// 256-block write batches; a peer relaying a burst of published sends (10,000 blocks
/// submitted to one node in the CPS benchmark) must not lose most of it, so a peer may
/// queue 16 Ki (sixteen of this node's [`BLOCK_BATCH_MAX`] write batches). One peer
/// still holds at most this much.
pub const BLOCK_PEER_QUEUE: usize = 16 * 1024;
/// Blocks queued from this node's own components (RPC `process`, wallets, bootstrap,
/// gap blocks whose dependency arrived). Reference `max_system_queue`: 16 Ki. Local
/// submissions get four times that because RPC clients submit whole chains at once and
/// are answered `overloaded` (never silently dropped) past it.
pub const BLOCK_LOCAL_QUEUE: usize = 64 * 1024;
/// Bootstrap blocks queued: reference `max_system_queue`. Gap blocks released from the
/// unchecked table may queue as many as that table holds ([`UNCHECKED_MAX`]): they were
/// bounded when they entered it.
pub const BLOCK_SYSTEM_QUEUE: usize = 16 * 1024;
/// All block sources together: 128 Ki blocks of at most ~250 bytes each keeps the queue
/// under ~40 MB however many peers connect (each peer alone is capped above).
pub const BLOCK_QUEUE_GLOBAL: usize = 128 * 1024;
/// Round-robin shares (reference `priority_live`, `priority_bootstrap`,
/// `priority_local`): a peer gets one block per turn, bootstrap eight, local sixteen.
pub const BLOCK_PRIORITY_LIVE: usize = 1;
pub const BLOCK_PRIORITY_BOOTSTRAP: usize = 8;
pub const BLOCK_PRIORITY_LOCAL: usize = 16;
/// Most blocks per write transaction: the default of `node.block_processor.batch_size`
/// (the reference's key, whose default is 256: the most blocks its block processor takes
/// into one write transaction). One commit (one fsync) covers them all, so a larger
/// batch syncs faster; but every page a transaction rewrites is copied, and LMDB can
/// reuse the old copy only two commits later, so the ledger file carries about two
/// batches' worth of rewritten pages as free pages for good, and LMDB keeps the largest
/// batch's dirty pages allocated in memory for as long as the node runs. Blocks land on
/// random pages (keys are hashes): about four to five pages per block at a million
/// blocks. Measured on a 1,000,000-block ascending sync (BENCHMARKS.md): 4096 blocks
/// per batch left 27.5 k free pages (113 bytes per block) and 271 MB anonymous memory,
/// 1024 left 9.7 k (40 bytes per block) and 233 MB; 256 (the reference's batch size)
/// halved the sync rate on this machine's disk. On a small ledger the same two batches
/// are a large share of the file, so the writer takes fewer than this there
/// ([`BLOCK_BATCH_FILE_PAGES`]). On a 10M-block sync to this project's benchmark disk
/// (BENCHMARKS.md, run 22) 4096 shared more pages per batch (4.97 pages per block
/// against 5.79) and synced 16% faster in one run against one, but LMDB kept 65 MB more of dirty pages
/// allocated; the default stays at 1024 for memory, `batch_size` raises it.
pub const BLOCK_BATCH_MAX: usize = 1024;
/// Ledger-file pages per block of write batch: the writer takes at most one block per
/// this many pages the file holds (and at least [`BLOCK_BATCH_MIN`], at most the
/// configured batch). The file keeps about two batches of rewritten pages free (about
/// four pages per block each), so free pages stay near 2 × 4 / 256 ≈ 3% of the file
/// however large it is, and LMDB's dirty pages of a batch (kept allocated) near 1.5% of
/// it. At 100,000 blocks (a 14 k-page file) this gives the floor: 1024-block batches had
/// left 31% of that file free (776–785 bytes per block, RsNano 605–609) and 64-block
/// batches 583 bytes per block. A 10M sync reaches the full 1024 at about 1 GiB of file
/// (about 1.7M blocks), where a batch's fsync is what the larger batch saves.
pub const BLOCK_BATCH_FILE_PAGES: usize = 256;
/// The fewest blocks the file rule sets per write transaction (a new or small ledger):
/// below this each commit's fsync costs more than the free pages it saves (64-block
/// batches synced 100,000 blocks at 583 bytes per block, the reference format's size).
pub const BLOCK_BATCH_MIN: usize = 64;
/// Longest a write transaction is held for a batch (reference `block_processor_batch_max_time`
/// is 500 ms), so cementing and forced blocks are not delayed longer than that.
pub const BLOCK_BATCH_MAX_TIME_MS: u64 = 500;

/// Most blocks cemented in one write transaction. A confirmed winner on top of a long
/// unconfirmed chain (a bootstrapped ledger: millions of blocks behind one vote) is
/// cemented over as many transactions as it takes, this many blocks each, so the writer
/// never holds one transaction, nor a list of cemented blocks in memory, in proportion
/// to the chain. The reference's confirming set holds at most 128 Ki dependent blocks
/// per pass; this node cements in the block processor's transaction. Each cemented
/// block only appends a confirmation-log row (the last page of that table) and moves
/// its account's height (one row per account), so a cementing commit rewrites far
/// fewer pages than one of [`BLOCK_BATCH_MAX`] new blocks.
pub const CEMENT_BATCH_MAX: usize = 4096;

// ---- Vote processor --------------------------------------------------------------

/// Votes queued per (principal-representative tier, channel): reference `max_pr_queue`.
pub const VOTE_PR_QUEUE: usize = 256;
/// Votes queued per channel from accounts with weight above the minimum but below the
/// first tier: reference `max_non_pr_queue`.
pub const VOTE_NON_PR_QUEUE: usize = 32;
/// Round-robin share base: tier 1 gets `3`, tier 2 `3²`, tier 3 `3³` votes per turn for
/// one of a non-principal: reference `pr_priority`.
pub const VOTE_PR_PRIORITY: usize = 3;
/// All vote sub-queues together. Every channel has its own sub-queues, so the sum is
/// bounded by the network's channel limit; this caps it regardless (64 Ki votes of at
/// most ~8.3 KB each, the size of the FIFO it replaces).
pub const VOTE_QUEUE_GLOBAL: usize = 64 * 1024;
/// Votes verified and applied per consensus-loop pass: one batched signature check
/// amortises well at this size and the loop still returns to its periodic work within
/// a few milliseconds.
pub const VOTE_BATCH: usize = 4096;
/// Recently processed (vote hash, account) pairs remembered so relays of relays are
/// dropped before their signature is checked again.
pub const SEEN_VOTES: usize = 256 * 1024;

// ---- Request aggregator (confirm_req) --------------------------------------------

/// confirm_req messages queued per channel: reference `max_queue` (128).
pub const REQUEST_QUEUE_PER_CHANNEL: usize = 128;
/// All channels together; bounded by channels × 128 anyway, capped like the FIFO it
/// replaces.
pub const REQUEST_QUEUE_GLOBAL: usize = 4096;
/// Requests answered per consensus-loop pass (reference `batch_size` 16 per thread; the
/// single loop here takes more per pass so one pass serves many channels).
pub const REQUEST_BATCH: usize = 256;

// ---- Caches ----------------------------------------------------------------------

/// Hashes with cached votes (blocks not yet known or without an election): reference
/// vote cache `max_size`.
pub const VOTE_CACHE_HASHES: usize = 64 * 1024;
/// Votes kept per cached hash: reference `max_voters`.
pub const VOTE_CACHE_VOTERS: usize = 64;
/// Gap blocks waiting for a dependency: reference `max_unchecked_blocks` is 65,536.
pub const UNCHECKED_MAX: usize = 64 * 1024;
/// Concurrent elections: reference `active_elections.size`.
pub const ACTIVE_ELECTIONS: usize = 5000;
/// Candidate blocks each priority bucket keeps, ordered by account activity; the
/// latest-active one is dropped beyond it: reference `priority_bucket.max_blocks`. With
/// 63 buckets about half a million blocks (~150 MB) at most; a dropped candidate is
/// found again by the backlog walk.
pub const PRIORITY_BUCKET_MAX_BLOCKS: usize = 8 * 1024;
/// Elections a priority bucket may always start while the active elections have
/// room: reference `priority_bucket.reserved_elections`.
pub const PRIORITY_BUCKET_RESERVED_ELECTIONS: usize = 100;
/// Elections a priority bucket may hold before it must cancel (and, for a candidate
/// that sorts first, may briefly hold twice as many): reference
/// `priority_bucket.max_elections`.
pub const PRIORITY_BUCKET_MAX_ELECTIONS: usize = 150;
/// Confirmed elections waiting to be cemented beyond which no new election starts:
/// reference `active_elections.max_election_winners` (16 Ki), so a slow disk holds back
/// elections instead of letting the cementing queue grow.
pub const MAX_ELECTION_WINNERS: usize = 16 * 1024;
/// Recently confirmed elections remembered (RPC `confirmation_history`, replay checks):
/// reference `confirmation_history_size`.
pub const CONFIRMATION_HISTORY: usize = 2048;

/// Limits of a vote source (tier, channel) in the vote processor's fair queue.
pub fn vote_tier_limits(tier: RepTier) -> SourceLimits {
    use RepTier::*;
    let p = VOTE_PR_PRIORITY;
    match tier {
        None => SourceLimits {
            max: VOTE_NON_PR_QUEUE,
            priority: 1,
        },
        Tier1 => SourceLimits {
            max: VOTE_PR_QUEUE,
            priority: p,
        },
        Tier2 => SourceLimits {
            max: VOTE_PR_QUEUE,
            priority: p * p,
        },
        Tier3 => SourceLimits {
            max: VOTE_PR_QUEUE,
            priority: p * p * p,
        },
    }
}

/// Limits of a channel in the request aggregator's fair queue (all channels equal).
pub fn request_channel_limits() -> SourceLimits {
    SourceLimits {
        max: REQUEST_QUEUE_PER_CHANNEL,
        priority: 1,
    }
}
