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
}

/// Shorthand for an error result.
pub fn err<T>(s: &str) -> Result<T, RpcError> {
    Err(RpcError::new(s))
}
