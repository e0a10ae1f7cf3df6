//! Elections: one per qualified root (the slot competing forks share), holding the
//! candidate blocks, each representative's latest vote, and the tallies that decide them
//! (fact sheet §8). [`super::active::ActiveElections`] holds the running ones and
//! remembers recently confirmed elections for `confirmation_history`; the schedulers
//! decide which may start and which are cancelled.
//!
//! This module is pure bookkeeping with no I/O: callers pass weights and the quorum delta
//! in and act on what the methods report (send final votes, cement a winner).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nano_core::{Account, Amount, Block, BlockHash, QualifiedRoot};
use nano_messages::Vote;

/// Candidate blocks kept per election; more forks than this are ignored.
pub const MAX_CANDIDATES: usize = 10;

/// Where a priority election sits in the priority scheduler: its balance bucket and the
/// account's last-activity time it was scheduled with (reference `bucket::
/// election_entry`). The bucket's election limit and cancellation use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSlot {
    pub bucket: usize,
    pub time: u64,
}

/// Which scheduler started an election (reference `election_behavior`); each has its
/// own share of the active elections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Behavior {
    /// The first uncemented block of an account.
    #[default]
    Priority,
    /// Cached votes for the block reached the hinting threshold.
    Hinted,
    /// The head of a long uncemented chain, confirmed by others' votes.
    Optimistic,
    /// `block_confirm`.
    Manual,
}

/// How long a hinted or optimistic election may run unconfirmed (reference
/// `election::time_to_live`): they are started on others' word and must not hold their
/// share of the active elections for long. Priority and manual elections use the
/// configured `election_expiry` (the reference's 5 minutes).
pub const SPECULATIVE_ELECTION_TTL: Duration = Duration::from_secs(30);

impl Behavior {
    /// How long an election of this behaviour may run unconfirmed, `expiry` being the
    /// configured lifetime of priority and manual elections.
    pub fn time_to_live(self, expiry: Duration) -> Duration {
        match self {
            Behavior::Priority | Behavior::Manual => expiry,
            Behavior::Hinted | Behavior::Optimistic => SPECULATIVE_ELECTION_TTL,
        }
    }
}

/// A representative's latest vote in one election.
#[derive(Debug, Clone, Copy)]
pub struct VoteEntry {
    pub hash: BlockHash,
    pub timestamp: u64,
    /// The representative's weight at the last tally (or at arrival, before one).
    pub weight: Amount,
    pub received: Instant,
}

impl VoteEntry {
    pub fn is_final(&self) -> bool {
        self.timestamp == Vote::FINAL_TIMESTAMP
    }
}

/// What applying a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Counted (new or newer than the representative's previous vote).
    Vote,
    /// Older than, or the same as, what the representative already said.
    Replay,
    /// Not counted: the representative weighs no more than a principal representative's
    /// minimum ([`super::counts_in_elections`]).
    Ignored,
}

/// What the tallies say after a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Normal votes put this block ahead by the quorum delta: local representatives
    /// should now final-vote it.
    pub want_final: Option<BlockHash>,
    /// Final votes for this block reached the quorum delta: it is confirmed.
    pub confirmed: Option<BlockHash>,
    /// The leader changed to this block (reference `election::confirm_if_quorum`): it
    /// must be forced into the ledger before anything votes for it.
    pub leader_changed: Option<BlockHash>,
}

#[derive(Debug, Clone)]
pub struct Election {
    pub id: u64,
    pub qualified_root: QualifiedRoot,
    pub blocks: HashMap<BlockHash, Block>,
    pub winner: BlockHash,
    pub votes: HashMap<Account, VoteEntry>,
    pub started: Instant,
    pub started_ms: u64,
    pub request_count: u32,
    pub last_request: Option<Instant>,
    /// When and which winner this election last published (the reference's
    /// `last_block` and `last_block_hash`); never before the first broadcast.
    pub last_broadcast: Option<(Instant, BlockHash)>,
    /// The block local representatives last signed a normal vote for here (set by the
    /// generator once the vote rules allowed it; the election asks again while it
    /// differs from the winner).
    pub voted_for: Option<BlockHash>,
    /// Normal votes gave the winner a lead of the quorum delta (reference
    /// `election::have_quorum`); only from then on may this node final-vote.
    pub quorum: bool,
    /// Local representatives signed their final vote here.
    pub final_voted: bool,
    /// Set for elections the priority scheduler's buckets started.
    pub bucket: Option<BucketSlot>,
    pub confirmed: bool,
    pub behavior: Behavior,
}

/// Per-candidate tallies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub hash: BlockHash,
    pub tally: Amount,
    pub final_tally: Amount,
}

fn add(a: Amount, b: Amount) -> Amount {
    a.checked_add(b).unwrap_or(Amount::MAX)
}

impl Election {
    pub fn new(id: u64, winner: Block) -> Election {
        let hash = winner.hash();
        let now = Instant::now();
        Election {
            id,
            qualified_root: winner.qualified_root(),
            blocks: HashMap::from([(hash, winner)]),
            winner: hash,
            votes: HashMap::new(),
            started: now,
            started_ms: now_ms(),
            request_count: 0,
            last_request: None,
            last_broadcast: None,
            voted_for: None,
            quorum: false,
            final_voted: false,
            bucket: None,
            confirmed: false,
            behavior: Behavior::Priority,
        }
    }

    /// Applies `rep`'s vote for `hash` (a candidate of this election). Votes are ordered
    /// by timestamp; at equal timestamps only a greater hash replaces; a final vote is
    /// never replaced.
    pub fn vote(
        &mut self,
        rep: Account,
        weight: Amount,
        timestamp: u64,
        hash: BlockHash,
    ) -> VoteOutcome {
        if let Some(prev) = self.votes.get(&rep) {
            if prev.is_final()
                || timestamp < prev.timestamp
                || (timestamp == prev.timestamp && hash <= prev.hash)
            {
                return VoteOutcome::Replay;
            }
        }
        self.votes.insert(
            rep,
            VoteEntry {
                hash,
                timestamp,
                weight,
                received: Instant::now(),
            },
        );
        VoteOutcome::Vote
    }

    /// Tallies of every candidate, highest normal tally first.
    pub fn tallies(&self) -> Vec<Tally> {
        let mut t: HashMap<BlockHash, Tally> = self
            .blocks
            .keys()
            .map(|h| {
                (
                    *h,
                    Tally {
                        hash: *h,
                        tally: Amount::ZERO,
                        final_tally: Amount::ZERO,
                    },
                )
            })
            .collect();
        for v in self.votes.values() {
            if let Some(e) = t.get_mut(&v.hash) {
                e.tally = add(e.tally, v.weight);
                if v.is_final() {
                    e.final_tally = add(e.final_tally, v.weight);
                }
            }
        }
        let mut out: Vec<Tally> = t.into_values().collect();
        out.sort_by(|a, b| b.tally.cmp(&a.tally).then(a.hash.cmp(&b.hash)));
        out
    }

    /// Re-evaluates after votes changed: the leader replaces the winner once the total
    /// tally reaches `delta`; a lead of `delta` asks for final votes; a final tally of
    /// `delta` confirms.
    ///
    /// Every vote is weighed again with `weight_of` (the ledger's weight now), not with
    /// the weight its representative had when the vote arrived: reference
    /// `election::tally_impl` reads `ledger.weight (account)` for each last vote at every
    /// tally, so a representative whose delegations changed during the election counts
    /// with its new weight.
    pub fn evaluate(
        &mut self,
        delta: Amount,
        weight_of: impl Fn(&Account) -> Amount,
    ) -> Evaluation {
        let mut ev = Evaluation::default();
        if self.confirmed {
            return ev;
        }
        for (rep, v) in self.votes.iter_mut() {
            v.weight = weight_of(rep);
        }
        let t = self.tallies();
        let Some(top) = t.first().copied() else {
            return ev;
        };
        let total = t.iter().fold(Amount::ZERO, |a, x| add(a, x.tally));
        if top.hash != self.winner && total >= delta && top.tally > Amount::ZERO {
            self.winner = top.hash;
            ev.leader_changed = Some(top.hash);
        }
        let second = t.get(1).map_or(Amount::ZERO, |x| x.tally);
        if top.hash == self.winner && top.tally.checked_sub(second).unwrap_or_default() >= delta {
            self.quorum = true;
            ev.want_final = Some(self.winner);
        }
        if let Some(f) = t
            .iter()
            .find(|x| x.final_tally >= delta && !x.final_tally.is_zero())
        {
            if f.hash != self.winner {
                ev.leader_changed = Some(f.hash);
            }
            self.winner = f.hash;
            self.confirmed = true;
            ev.confirmed = Some(f.hash);
        }
        ev
    }

    /// The summary kept in history and sent with confirmation events.
    pub fn summary(&self) -> ElectionSummary {
        let t = self.tallies();
        let winner = t.iter().find(|x| x.hash == self.winner).copied();
        ElectionSummary {
            id: self.id,
            behavior: self.behavior,
            qualified_root: self.qualified_root,
            winner: self.winner,
            tally: winner.map_or(Amount::ZERO, |x| x.tally),
            final_tally: winner.map_or(Amount::ZERO, |x| x.final_tally),
            blocks: self.blocks.len(),
            voters: self.votes.len(),
            request_count: self.request_count,
            started_ms: self.started_ms,
            duration: self.started.elapsed(),
            confirmed: self.confirmed,
            tallies: t,
            votes: self
                .votes
                .iter()
                .map(|(r, v)| (*r, v.hash, v.timestamp, v.weight))
                .collect(),
        }
    }
}

/// A snapshot of an election for RPC, history and events.
#[derive(Debug, Clone)]
pub struct ElectionSummary {
    pub id: u64,
    /// How the election started (RPC `election_statistics` counts by it).
    pub behavior: Behavior,
    pub qualified_root: QualifiedRoot,
    pub winner: BlockHash,
    pub tally: Amount,
    pub final_tally: Amount,
    pub blocks: usize,
    pub voters: usize,
    pub request_count: u32,
    /// Wall-clock start, ms since the Unix epoch.
    pub started_ms: u64,
    pub duration: Duration,
    pub confirmed: bool,
    pub tallies: Vec<Tally>,
    /// (representative, hash, timestamp, weight) of each latest vote.
    pub votes: Vec<(Account, BlockHash, u64, Amount)>,
}

impl ElectionSummary {
    /// The `election_info` object of confirmation notifications.
    pub fn election_info_json(&self) -> serde_json::Value {
        let votes: Vec<serde_json::Value> = self
            .votes
            .iter()
            .map(|(r, h, ts, w)| {
                serde_json::json!({
                    "representative": r.encode_account(),
                    "timestamp": ts.to_string(),
                    "hash": h.encode_hex(),
                    "weight": w.encode_dec(),
                })
            })
            .collect();
        serde_json::json!({
            "duration": self.duration.as_millis().to_string(),
            "time": (self.started_ms + self.duration.as_millis() as u64).to_string(),
            "tally": self.tally.encode_dec(),
            "final": self.final_tally.encode_dec(),
            "blocks": self.blocks.to_string(),
            "voters": self.voters.to_string(),
            "request_count": self.request_count.to_string(),
            "votes": votes,
        })
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
