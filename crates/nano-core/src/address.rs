//! `nano_` / `xrb_` account addresses and `node_` node ids: a 4-bit pad, the 256-bit key and
//! a 40-bit BLAKE2b checksum written as 60 base-32 characters.

use blake2b_simd::Params;

pub use crate::numbers::Account;
use crate::numbers::PublicKey;

const ALPHABET: &[u8; 32] = b"13456789abcdefghijkmnopqrstuwxyz";

/// Each failure is its own variant so an RPC error or a CLI message can say exactly what
/// is wrong with an address a user pasted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address must start with nano_, xrb_ or node_")]
    Prefix,
    #[error("address has the wrong length ({0} characters)")]
    Length(usize),
    #[error("invalid character {0:?} in address")]
    Alphabet(char),
    #[error("address encodes more than 256 bits (first character must be 1 or 3)")]
    Padding,
    #[error("address checksum does not match")]
    Checksum,
}

/// Each byte's value in [`ALPHABET`], [`NOT_IN_ALPHABET`] for every other byte: one
/// load per character instead of a search (addresses are decoded on every RPC request
/// that names an account).
const DECODE: [u8; 256] = {
    let mut t = [NOT_IN_ALPHABET; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const NOT_IN_ALPHABET: u8 = 0xFF;

fn decode_char(c: u8) -> Option<u8> {
    Some(DECODE[c as usize]).filter(|v| *v != NOT_IN_ALPHABET)
}

fn checksum(key: &PublicKey) -> [u8; 5] {
    let h = Params::new().hash_length(5).hash(&key.0);
    let mut out = [0u8; 5];
    // The reference stores the digest in a little-endian integer and prints it
    // big-endian, so the printed bytes are the digest reversed.
    for (i, b) in h.as_bytes().iter().enumerate() {
        out[4 - i] = *b;
    }
    out
}

fn encode_body(key: &PublicKey) -> String {
    // 300-bit big-endian number: [4 zero bits][key][checksum]; kept in 38 bytes (304 bits)
    // with the four unused bits at the very front.
    let mut bits = [0u8; 38];
    // Put key||checksum (296 bits = 37 bytes) right-aligned.
    bits[1..33].copy_from_slice(&key.0);
    bits[33..38].copy_from_slice(&checksum(key));
    // 304 bits; our number is the low 300 bits: 60 groups of 5 from bit 4 on, taken
    // from a bit accumulator fed a byte at a time (only its low `n` bits are live).
    let mut out = String::with_capacity(60);
    let (mut acc, mut n) = (u32::from(bits[0] & 0x0F), 4);
    for b in &bits[1..] {
        acc = (acc << 8) | u32::from(*b);
        n += 8;
        while n >= 5 {
            n -= 5;
            out.push(ALPHABET[((acc >> n) & 31) as usize] as char);
        }
    }
    out
}

impl PublicKey {
    /// The `nano_` address of this key (what RPC prints for every account).
    pub fn encode_account(&self) -> String {
        let mut s = String::with_capacity(65);
        s.push_str("nano_");
        s.push_str(&encode_body(self));
        s
    }

    /// The `node_` form used to show node ids (telemetry, peers).
    pub fn encode_node_id(&self) -> String {
        format!("node_{}", encode_body(self))
    }

    /// Accepts `nano_`, `nano-`, `xrb_`, `xrb-` and `node_` forms; checks the checksum.
    pub fn decode_account(s: &str) -> Result<PublicKey, AddressError> {
        let body = ["nano_", "nano-", "xrb_", "xrb-", "node_"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .ok_or(AddressError::Prefix)?;
        if body.len() != 60 || !body.is_ascii() {
            return Err(AddressError::Length(s.chars().count()));
        }
        // The 300 bits after 4 zero bits, into a 304-bit buffer through a bit
        // accumulator (only its low `n` bits are live).
        let mut buf = [0u8; 38];
        let (mut acc, mut n, mut at) = (0u32, 4, 0);
        for c in body.bytes() {
            let v = decode_char(c).ok_or(AddressError::Alphabet(c as char))?;
            acc = (acc << 5) | u32::from(v);
            n += 5;
            if n >= 8 {
                n -= 8;
                buf[at] = (acc >> n) as u8;
                at += 1;
            }
        }
        // The first 4 bits of the 300-bit number (bits 4..8 of buf) must be zero.
        if buf[0] != 0 {
            return Err(AddressError::Padding);
        }
        let key = PublicKey::from_slice(&buf[1..33]).ok_or(AddressError::Length(s.len()))?;
        if buf[33..38] != checksum(&key) {
            return Err(AddressError::Checksum);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3";
    const LIVE_HEX: &str = "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA";

    #[test]
    fn genesis_addresses() {
        let cases = [
            (LIVE_HEX, LIVE),
            (
                "259A438A8F9F9226130C84D902C237AF3E57C0981C7D709C288046B110D8C8AC",
                "nano_1betag7az9wk6rbis38s1d35hdsycz1bi95xg4g4j148p6afjk7embcurda4",
            ),
            (
                "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0",
                "nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo",
            ),
            (
                "45C6FF9D1706D61F0821327752671BDA9F9ED2DA40326B01935AB566FB9E08ED",
                "nano_1jg8zygjg3pp5w644emqcbmjqpnzmubfni3kfe1s8pooeuxsw49fdq1mco9j",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
            ),
            (
                "65706F636820763120626C6F636B000000000000000000000000000000000000",
                "nano_1sdifxjpia5p86i86u5hefoi1111111111111111111111111111g7jhnpfy",
            ),
        ];
        for (hex, addr) in cases {
            let k = PublicKey::decode_hex(hex).unwrap();
            assert_eq!(k.encode_account(), addr);
            assert_eq!(PublicKey::decode_account(addr).unwrap(), k);
        }
    }

    #[test]
    fn accepts_legacy_prefixes() {
        let k = PublicKey::decode_hex(LIVE_HEX).unwrap();
        let body = &LIVE[5..];
        for p in ["xrb_", "xrb-", "nano-", "node_"] {
            assert_eq!(PublicKey::decode_account(&format!("{p}{body}")).unwrap(), k);
        }
        assert!(k.encode_node_id().starts_with("node_"));
    }

    #[test]
    fn each_error_kind() {
        let body = &LIVE[5..];
        assert_eq!(
            PublicKey::decode_account(&format!("nan_{body}")),
            Err(AddressError::Prefix)
        );
        assert_eq!(
            PublicKey::decode_account(&LIVE[..64]),
            Err(AddressError::Length(64))
        );
        let mut bad = LIVE.to_string();
        bad.replace_range(10..11, "l");
        assert_eq!(
            PublicKey::decode_account(&bad),
            Err(AddressError::Alphabet('l'))
        );
        let mut bad = LIVE.to_string();
        bad.replace_range(64..65, if LIVE.ends_with('3') { "4" } else { "3" });
        assert_eq!(PublicKey::decode_account(&bad), Err(AddressError::Checksum));
        let mut bad = LIVE.to_string();
        bad.replace_range(5..6, "z");
        assert_eq!(PublicKey::decode_account(&bad), Err(AddressError::Padding));
        // Multi-byte characters are a length problem, never a panic.
        assert!(PublicKey::decode_account(&format!("nano_{}é", &body[..58])).is_err());
    }
}
