//! The wallet store's error type: one variant per condition an RPC handler or the CLI must
//! report differently ("Wallet not found", "Wallet is locked", "Account not found in
//! wallet", a bad password), plus storage and format failures.

/// Why a wallet operation failed. Nothing is written when an operation returns an error.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("wallet not found")]
    WalletNotFound,
    #[error("wallet is locked")]
    Locked,
    #[error("invalid password")]
    InvalidPassword,
    #[error("account not found in wallet")]
    AccountNotFound,
    /// The account is watch-only: the wallet has no private key for it.
    #[error("account is watch-only")]
    WatchOnly,
    #[error("send id is empty or longer than {max} bytes")]
    InvalidSendId { max: usize },
    #[error("deterministic index space of the seed is exhausted")]
    IndexExhausted,
    #[error("wallet store format version {found} is not supported (expected {expected})")]
    UnsupportedVersion { found: u32, expected: u32 },
    /// A stored entry has an impossible shape, or decrypts to a key that does not match
    /// its account: the file was damaged or tampered with.
    #[error("corrupt wallet store: {0}")]
    Corrupt(String),
    #[error("invalid wallet export: {0}")]
    InvalidExport(String),
    #[error("password key derivation failed: {0}")]
    Kdf(String),
    #[error("wallet store: {0}")]
    Store(#[from] heed::Error),
    #[error("wallet store I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = WalletError> = std::result::Result<T, E>;
