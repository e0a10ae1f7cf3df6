//! RPC errors with the reference node's exact texts; clients match on these strings.

/// An error an action answers with, rendered as `{"error": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError(pub String);

impl RpcError {
    pub fn new(s: impl Into<String>) -> Self {
        RpcError(s.into())
    }
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.0 })
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The reference texts, named so call sites read like the reference's error enums.
pub mod msg {
    pub const UNKNOWN_COMMAND: &str = "Unknown command";
    pub const UNABLE_TO_PARSE_JSON: &str = "Unable to parse JSON";
    pub const MAX_DEPTH: &str = "Max JSON depth exceeded";
    pub const CONTROL_DISABLED: &str = "RPC control is disabled";
    pub const UNSAFE_NOT_ALLOWED: &str = "Unsafe RPC not allowed";
    pub const EMPTY_RESPONSE: &str = "Empty response";
    pub const INTERNAL: &str = "Internal server error in RPC";
    pub const BAD_ACCOUNT: &str = "Bad account number";
    pub const ACCOUNT_NOT_FOUND: &str = "Account not found";
    pub const BAD_PRIVATE_KEY: &str = "Bad private key";
    pub const BAD_PUBLIC_KEY: &str = "Bad public key";
    pub const BAD_SEED: &str = "Bad seed";
    pub const BAD_WALLET: &str = "Bad wallet number";
    pub const BAD_THRESHOLD: &str = "Bad threshold number";
    pub const BAD_WORK: &str = "Bad work";
    pub const BAD_SIGNATURE: &str = "Bad signature";
    pub const BAD_HASH: &str = "Bad hash number";
    pub const BAD_DIFFICULTY: &str = "Bad difficulty";
    pub const BAD_MULTIPLIER: &str = "Bad multiplier";
    pub const BAD_WORK_VERSION: &str = "Bad work version";
    pub const BAD_REPRESENTATIVE: &str = "Bad representative number";
    pub const BAD_LINK: &str = "Bad link number";
    pub const BAD_PREVIOUS: &str = "Bad previous";
    pub const BAD_SOURCE: &str = "Bad source";
    pub const BAD_DESTINATION: &str = "Bad destination account";
    pub const BAD_KEY: &str = "Bad key";
    pub const BLOCK_INVALID: &str = "Block is invalid";
    pub const BLOCK_NOT_FOUND: &str = "Block not found";
    pub const INVALID_BLOCK_TYPE: &str = "Invalid block type";
    pub const INVALID_AMOUNT: &str = "Invalid amount number";
    pub const INVALID_INDEX: &str = "Invalid index";
    pub const INVALID_COUNT: &str = "Invalid count";
    pub const INVALID_BALANCE: &str = "Invalid balance number";
    pub const INVALID_MISSING_TYPE: &str = "Invalid or missing type argument";
    pub const INVALID_SUBTYPE: &str = "Invalid block subtype";
    pub const INVALID_SUBTYPE_BALANCE: &str = "Invalid block balance for given subtype";
    pub const INVALID_SUBTYPE_EPOCH_LINK: &str = "Invalid epoch link";
    pub const INVALID_SUBTYPE_PREVIOUS: &str = "Invalid previous block for given subtype";
    pub const KEY_REQUIRED: &str = "Private key or local wallet and account required";
    pub const KEY_MISMATCH: &str = "Incorrect key for given account";
    pub const REQ_STATE: &str =
        "Previous, representative, final balance and link (source or destination) are required";
    pub const REQ_OPEN: &str = "Representative account and source hash required";
    pub const REQ_RECEIVE: &str = "Previous hash and source hash required";
    pub const REQ_CHANGE: &str = "Representative account and previous hash required";
    pub const REQ_SEND: &str =
        "Destination account, previous hash, current balance and amount required";
    pub const DIFFICULTY_LIMIT: &str = "Difficulty above config limit or below publish threshold";
    pub const WORK_FAILURE: &str = "Work generation cancellation or failure";
    pub const SIGN_HASH_DISABLED: &str = "Signing by block hash is disabled";
    pub const BLOCK_WORK_ENOUGH: &str = "Provided work is already enough for given difficulty";
    pub const NODE_UNAVAILABLE: &str = "This action needs the node's ledger, which is not running";
    pub const NODE_NOT_ATTACHED: &str = "This action needs the running node, which is not attached";
}

/// Shorthand for an error result.
pub fn err<T>(s: &str) -> Result<T, RpcError> {
    Err(RpcError::new(s))
}

/// Why the node published nothing for a block handed to it (`process`, wallet sends):
/// kept typed from the block processor to the edge, where [`ProcessRefusal::rpc_error`]
/// is the one place it becomes the reference's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessRefusal {
    /// The ledger's verdict (never `Progress`).
    #[error("{0}")]
    Rejected(nano_ledger::BlockStatus),
    /// The block processor gave no verdict: its queue was full or did not answer in
    /// time, the node is stopping, or the store failed.
    #[error("{0}")]
    Unprocessed(nano_node::consensus::SubmitError),
}

impl ProcessRefusal {
    /// `Ok` for an accepted block (`Progress`), the refusal otherwise.
    pub fn check(status: nano_node::consensus::ProcessStatus) -> Result<(), ProcessRefusal> {
        match status {
            Ok(nano_ledger::BlockStatus::Progress) => Ok(()),
            Ok(s) => Err(ProcessRefusal::Rejected(s)),
            Err(e) => Err(ProcessRefusal::Unprocessed(e)),
        }
    }

    /// The reference's `process` error text (its json_handler maps each block status to
    /// an `error_process` code; a missing verdict is `error_rpc::stopped`). Exhaustive,
    /// so a new status cannot fall through unnoticed.
    pub fn rpc_error(&self) -> RpcError {
        use nano_ledger::BlockStatus as S;
        RpcError::new(match self {
            ProcessRefusal::Unprocessed(_) => "Stopped",
            ProcessRefusal::Rejected(s) => match s {
                S::BadSignature => "Bad signature",
                S::Old => "Old block",
                S::NegativeSpend => "Negative spend",
                S::Fork => "Fork",
                S::Unreceivable => "Unreceivable",
                S::GapPrevious => "Gap previous block",
                S::GapSource => "Gap source block",
                S::GapEpochOpenPending => "Gap pending for open epoch block",
                S::OpenedBurnAccount => "Block attempts to open the burn account",
                S::BalanceMismatch => "Balance and amount delta do not match",
                S::BlockPosition => "This block cannot follow the previous block",
                S::InsufficientWork => "Block work is insufficient",
                // The reference has no case for these and answers its generic text.
                S::RepresentativeMismatch | S::Progress => "Error processing block",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use nano_ledger::BlockStatus;
    use nano_node::consensus::SubmitError;

    use super::ProcessRefusal;

    fn text(s: BlockStatus) -> String {
        ProcessRefusal::Rejected(s).rpc_error().0
    }

    /// Every status against the reference's error_process_messages text.
    #[test]
    fn each_block_status_has_the_reference_text() {
        let expected = [
            (BlockStatus::BadSignature, "Bad signature"),
            (BlockStatus::Old, "Old block"),
            (BlockStatus::NegativeSpend, "Negative spend"),
            (BlockStatus::Fork, "Fork"),
            (BlockStatus::Unreceivable, "Unreceivable"),
            (BlockStatus::GapPrevious, "Gap previous block"),
            (BlockStatus::GapSource, "Gap source block"),
            (
                BlockStatus::GapEpochOpenPending,
                "Gap pending for open epoch block",
            ),
            (
                BlockStatus::OpenedBurnAccount,
                "Block attempts to open the burn account",
            ),
            (
                BlockStatus::BalanceMismatch,
                "Balance and amount delta do not match",
            ),
            (
                BlockStatus::BlockPosition,
                "This block cannot follow the previous block",
            ),
            (BlockStatus::InsufficientWork, "Block work is insufficient"),
            (
                BlockStatus::RepresentativeMismatch,
                "Error processing block",
            ),
        ];
        for (status, want) in expected {
            assert_eq!(text(status), want, "{status}");
        }
        // Every refusable status is listed above.
        let listed = expected.len() + 1; // + Progress, which is no refusal
        assert_eq!(listed, BlockStatus::ALL.len());
    }

    #[test]
    fn no_verdict_is_stopped() {
        for e in [
            SubmitError::Overloaded,
            SubmitError::Stopped,
            SubmitError::Store("disk full".into()),
        ] {
            assert_eq!(ProcessRefusal::Unprocessed(e).rpc_error().0, "Stopped");
        }
    }

    #[test]
    fn only_progress_is_accepted() {
        assert_eq!(ProcessRefusal::check(Ok(BlockStatus::Progress)), Ok(()));
        assert_eq!(
            ProcessRefusal::check(Ok(BlockStatus::Fork)),
            Err(ProcessRefusal::Rejected(BlockStatus::Fork))
        );
        assert_eq!(
            ProcessRefusal::check(Err(SubmitError::Stopped)),
            Err(ProcessRefusal::Unprocessed(SubmitError::Stopped))
        );
    }
}
