//! `nano-core` owns the pure, synchronous primitives that every other crate of the node
//! shares: 256-bit values and their hex forms, amounts, `nano_` addresses, ed25519 with
//! BLAKE2b keys and signatures, the five block types (wire and JSON), proof of work and
//! the per-network parameters (genesis, epochs, thresholds, ports).
//!
//! Nothing here does I/O or spawns tasks except the work generator, which uses plain
//! threads so that callers of any runtime can use it.

pub mod address;
pub mod amount;
pub mod blocks;
pub mod civil_date;
pub mod epoch;
pub mod hash;
pub mod keys;
pub mod network;
pub mod numbers;
pub mod work;

pub use address::{Account, AddressError};
pub use amount::{Amount, AmountError};
pub use blocks::{
    Block, BlockError, BlockType, ChangeBlock, OpenBlock, ReceiveBlock, SendBlock, StateBlock,
};
pub use epoch::Epoch;
pub use keys::{KeyPair, RawKey};
pub use network::{Network, NetworkParams};
pub use numbers::{BlockHash, HexError, Link, PublicKey, QualifiedRoot, Root, Signature};
pub use work::{WorkThresholds, WorkVersion};
