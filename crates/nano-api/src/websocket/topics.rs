//! Subscription topics and their options as clients send them (`subscribe`, `update`),
//! parsed the way the reference node reads them.

use std::collections::HashSet;

use nano_core::PublicKey;
use nano_node::events::ConfirmationType;
use serde_json::Value;

/// A subscribable topic name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Confirmation,
    Vote,
    StartedElection,
    StoppedElection,
    Work,
    Bootstrap,
    Telemetry,
    NewUnconfirmedBlock,
    ActiveDifficulty,
    /// Acks are always delivered; subscribing to them is accepted and changes nothing.
    Ack,
}

impl Topic {
    pub fn parse(s: &str) -> Option<Topic> {
        Some(match s {
            "confirmation" => Topic::Confirmation,
            "vote" => Topic::Vote,
            "started_election" => Topic::StartedElection,
            "stopped_election" => Topic::StoppedElection,
            "work" => Topic::Work,
            "bootstrap" => Topic::Bootstrap,
            "telemetry" => Topic::Telemetry,
            "new_unconfirmed_block" => Topic::NewUnconfirmedBlock,
            "active_difficulty" => Topic::ActiveDifficulty,
            "ack" => Topic::Ack,
            _ => return None,
        })
    }
}

/// Reads a boolean the way boost property_tree does: JSON booleans and the strings
/// "true"/"false"/"1"/"0"; anything else is treated as absent.
pub(super) fn opt_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_u64().map(|x| x != 0),
        _ => None,
    }
}

/// Valid addresses of a JSON array; invalid entries are skipped (the reference logs them).
fn parse_accounts(v: &Value) -> impl Iterator<Item = PublicKey> + '_ {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .filter_map(|s| PublicKey::decode_account(s).ok())
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ConfirmationOptions {
    active_quorum: bool,
    active_confirmation_height: bool,
    inactive: bool,
    pub(super) include_block: bool,
    /// 0: none, 1: election_info, 2: election_info with votes.
    pub(super) election_info: u8,
    pub(super) include_sideband: bool,
    pub(super) all_local_accounts: bool,
    pub(super) has_account_filter: bool,
    pub(super) accounts: HashSet<PublicKey>,
    /// Set by `from_sequence`: the session receives every confirmation from that
    /// sequence on, replayed from the log first, then live.
    pub(super) resume: Option<Resume>,
}

/// Where a resuming confirmation subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resume {
    /// The next sequence this session must receive.
    pub(super) next: u64,
    /// While true, a replay task feeds the session from the log and the dispatcher
    /// leaves it alone; the task clears it once caught up, under the session lock.
    pub(super) replaying: bool,
}

impl Default for ConfirmationOptions {
    fn default() -> Self {
        ConfirmationOptions {
            active_quorum: true,
            active_confirmation_height: true,
            inactive: true,
            include_block: true,
            election_info: 0,
            include_sideband: false,
            all_local_accounts: false,
            has_account_filter: false,
            accounts: HashSet::new(),
            resume: None,
        }
    }
}

impl ConfirmationOptions {
    /// The `from_sequence` option: absent, or a sequence number (string or number);
    /// anything else is an error text for the client.
    pub(super) fn from_sequence(opts: Option<&Value>) -> Result<Option<u64>, String> {
        match opts.and_then(|o| o.get("from_sequence")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("Invalid from_sequence {s:?}")),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("Invalid from_sequence {n}")),
            Some(other) => Err(format!("Invalid from_sequence {other}")),
        }
    }

    pub(super) fn parse(opts: Option<&Value>) -> Self {
        let mut o = ConfirmationOptions::default();
        let Some(opts) = opts else { return o };
        let get = |k: &str| opts.get(k);
        if let Some(t) = get("confirmation_type").and_then(Value::as_str) {
            let (q, h, i) = match t.to_ascii_lowercase().as_str() {
                "active" => (true, true, false),
                "active_quorum" => (true, false, false),
                "active_confirmation_height" => (false, true, false),
                "inactive" => (false, false, true),
                _ => (true, true, true),
            };
            o.active_quorum = q;
            o.active_confirmation_height = h;
            o.inactive = i;
        }
        o.include_block = opt_bool(get("include_block")).unwrap_or(true);
        if opt_bool(get("include_election_info_with_votes")).unwrap_or(false) {
            o.election_info = 2;
        } else if opt_bool(get("include_election_info")).unwrap_or(false) {
            o.election_info = 1;
        }
        o.include_sideband = opt_bool(get("include_sideband_info")).unwrap_or(false);
        if opt_bool(get("all_local_accounts")).unwrap_or(false) {
            o.all_local_accounts = true;
            o.has_account_filter = true;
        }
        if let Some(list) = get("accounts") {
            o.has_account_filter = true;
            o.accounts.extend(parse_accounts(list));
        }
        if o.has_account_filter && !o.include_block {
            tracing::warn!("websocket: account filtering needs include_block; nothing will pass");
        }
        o
    }

    pub(super) fn update(&mut self, opts: &Value) {
        if let Some(add) = opts.get("accounts_add") {
            self.has_account_filter = true;
            self.accounts.extend(parse_accounts(add));
        }
        if let Some(del) = opts.get("accounts_del") {
            self.has_account_filter = true;
            for a in parse_accounts(del) {
                self.accounts.remove(&a);
            }
        }
        if self.has_account_filter && !self.all_local_accounts && self.accounts.is_empty() {
            tracing::warn!("websocket: confirmation account filter is empty; nothing will pass");
        }
    }

    pub(super) fn type_passes(&self, t: ConfirmationType) -> bool {
        match t {
            ConfirmationType::ActiveQuorum => self.active_quorum,
            ConfirmationType::ActiveConfirmationHeight => self.active_confirmation_height,
            ConfirmationType::Inactive => self.inactive,
        }
    }

    /// Index into the per-event message cache: one slot per distinct message shape.
    pub(super) fn shape(&self) -> usize {
        (self.include_block as usize) | ((self.include_sideband as usize) << 1) | {
            (self.election_info.min(2) as usize) << 2
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct VoteOptions {
    representatives: HashSet<PublicKey>,
    include_replays: bool,
    include_indeterminate: bool,
}

impl VoteOptions {
    fn parse(opts: Option<&Value>) -> Self {
        match opts {
            // Reference quirk: without an options object nothing is filtered.
            None => VoteOptions {
                representatives: HashSet::new(),
                include_replays: true,
                include_indeterminate: true,
            },
            Some(o) => VoteOptions {
                representatives: o
                    .get("representatives")
                    .map(|r| parse_accounts(r).collect())
                    .unwrap_or_default(),
                include_replays: opt_bool(o.get("include_replays")).unwrap_or(false),
                include_indeterminate: opt_bool(o.get("include_indeterminate")).unwrap_or(false),
            },
        }
    }

    pub(super) fn passes(&self, rep: &PublicKey, kind: &str) -> bool {
        if kind == "replay" && !self.include_replays {
            return false;
        }
        if kind == "indeterminate" && !self.include_indeterminate {
            return false;
        }
        self.representatives.is_empty() || self.representatives.contains(rep)
    }
}

/// One session's subscriptions: at most one per topic.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    pub(super) confirmation: Option<ConfirmationOptions>,
    pub(super) vote: Option<VoteOptions>,
    pub(super) started_election: bool,
    pub(super) stopped_election: bool,
    pub(super) work: bool,
    pub(super) bootstrap: bool,
    pub(super) telemetry: bool,
    pub(super) new_unconfirmed_block: bool,
    pub(super) active_difficulty: bool,
}

impl Subscriptions {
    fn flag(&mut self, t: Topic) -> Option<&mut bool> {
        Some(match t {
            Topic::StartedElection => &mut self.started_election,
            Topic::StoppedElection => &mut self.stopped_election,
            Topic::Work => &mut self.work,
            Topic::Bootstrap => &mut self.bootstrap,
            Topic::Telemetry => &mut self.telemetry,
            Topic::NewUnconfirmedBlock => &mut self.new_unconfirmed_block,
            Topic::ActiveDifficulty => &mut self.active_difficulty,
            _ => return None,
        })
    }

    /// Subscribing again replaces the options.
    pub(super) fn subscribe(&mut self, t: Topic, opts: Option<&Value>) {
        match t {
            Topic::Confirmation => self.confirmation = Some(ConfirmationOptions::parse(opts)),
            Topic::Vote => self.vote = Some(VoteOptions::parse(opts)),
            Topic::Ack => {}
            other => {
                if let Some(f) = self.flag(other) {
                    *f = true;
                }
            }
        }
    }

    pub(super) fn unsubscribe(&mut self, t: Topic) {
        match t {
            Topic::Confirmation => self.confirmation = None,
            Topic::Vote => self.vote = None,
            Topic::Ack => {}
            other => {
                if let Some(f) = self.flag(other) {
                    *f = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_type_parsing() {
        let o =
            ConfirmationOptions::parse(Some(&serde_json::json!({"confirmation_type": "ACTIVE"})));
        assert!(o.active_quorum && o.active_confirmation_height && !o.inactive);
        let o =
            ConfirmationOptions::parse(Some(&serde_json::json!({"confirmation_type": "bogus"})));
        assert!(o.active_quorum && o.active_confirmation_height && o.inactive);
        let o = ConfirmationOptions::parse(Some(&serde_json::json!({"include_block": "false"})));
        assert!(!o.include_block);
    }

    #[test]
    fn vote_defaults_depend_on_options_presence() {
        let bare = VoteOptions::parse(None);
        assert!(bare.passes(&PublicKey::ZERO, "replay"));
        let with = VoteOptions::parse(Some(&serde_json::json!({})));
        assert!(!with.passes(&PublicKey::ZERO, "replay"));
        assert!(with.passes(&PublicKey::ZERO, "vote"));
        let bad = VoteOptions::parse(Some(&serde_json::json!({"representatives": ["x"]})));
        assert!(bad.passes(&PublicKey::ZERO, "vote"));
    }
}
