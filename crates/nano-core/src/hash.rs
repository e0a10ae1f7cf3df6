//! BLAKE2b helpers with the digest sizes the protocol uses (32 for block and vote
//! hashes, 8 for proof of work, 5 for address checksums, 64 inside ed25519).

use blake2b_simd::Params;

/// 32-byte BLAKE2b of the concatenation of `parts`; block, vote and seed hashes all use it.
pub fn blake2b_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = Params::new().hash_length(32).to_state();
    for p in parts {
        state.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}

/// 64-byte BLAKE2b; the hash that replaces SHA-512 in Nano's ed25519.
pub fn blake2b_512(parts: &[&[u8]]) -> [u8; 64] {
    let mut state = Params::new().hash_length(64).to_state();
    for p in parts {
        state.update(p);
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}
