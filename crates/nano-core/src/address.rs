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

fn decode_char(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|a| *a == c).map(|p| p as u8)
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
    // 304 bits; our number is the low 300 bits. Emit 60 groups of 5 starting at bit 4.
    let mut out = String::with_capacity(60);
    for i in 0..60 {
        let bit = 4 + i * 5; // offset from the top of the 304-bit buffer
        let v = read_bits(&bits, bit, 5);
        out.push(ALPHABET[v as usize] as char);
    }
    out
}

/// Reads `n` bits starting at bit offset `start` (0 = most significant of `buf`).
fn read_bits(buf: &[u8], start: usize, n: usize) -> u8 {
    let mut v = 0u8;
    for k in 0..n {
        let b = start + k;
        let bit = (buf[b / 8] >> (7 - (b % 8))) & 1;
        v = (v << 1) | bit;
    }
    v
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
        let mut vals = [0u8; 60];
        for (i, c) in body.bytes().enumerate() {
            vals[i] = decode_char(c).ok_or(AddressError::Alphabet(c as char))?;
        }
        // Write the 300 bits into a 304-bit buffer at offset 4.
        let mut buf = [0u8; 38];
        for (i, v) in vals.iter().enumerate() {
            for k in 0..5 {
                if (v >> (4 - k)) & 1 == 1 {
                    let b = 4 + i * 5 + k;
                    buf[b / 8] |= 1 << (7 - (b % 8));
                }
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
