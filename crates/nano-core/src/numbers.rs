//! Fixed-size values of the protocol (public keys, hashes, roots, links, signatures) with
//! their hex text form: any case accepted on input, upper case on output, as the reference
//! node prints them.

use std::fmt;
use std::str::FromStr;

/// Why a hex string could not become a fixed-size value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} hex digits, got {got}")]
    Length { expected: usize, got: usize },
    #[error("invalid hex digit {0:?}")]
    Digit(char),
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly `out.len() * 2` hex digits of either case into `out`.
pub fn decode_hex_into(s: &str, out: &mut [u8]) -> Result<(), HexError> {
    let b = s.as_bytes();
    if b.len() != out.len() * 2 {
        return Err(HexError::Length {
            expected: out.len() * 2,
            got: s.chars().count(),
        });
    }
    for (i, o) in out.iter_mut().enumerate() {
        let hi = hex_val(b[2 * i]).ok_or_else(|| HexError::Digit(bad_char(s, 2 * i)))?;
        let lo = hex_val(b[2 * i + 1]).ok_or_else(|| HexError::Digit(bad_char(s, 2 * i + 1)))?;
        *o = (hi << 4) | lo;
    }
    Ok(())
}

/// Decodes a number of `out.len()` bytes the way the reference node's `decode_hex` reads
/// request and block JSON fields: it streams the text into an integer in hex, so
/// - the whole text, blanks and prefix included, may be at most `out.len() * 2`
///   characters long; for a 256-bit number it may not be empty;
/// - leading blanks (C's `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`) are skipped,
///   then a `0x` prefix (lower-case `x` only) is taken as the base's;
/// - the digits, of either case, run to the end of the text, a short text being the
///   number with its leading zero digits left out ("1" is 00..01); no digit at all (a
///   blank text, or `0x` alone) reads as zero, as the stream leaves the number it started
///   from.
///
/// Anything else (a trailing blank, a sign, `0X`, a non-hex character) is an error.
pub fn decode_number_hex_into(s: &str, out: &mut [u8]) -> Result<(), HexError> {
    let b = s.as_bytes();
    if b.len() > out.len() * 2 || (b.is_empty() && out.len() == 32) {
        return Err(HexError::Length {
            expected: out.len() * 2,
            got: s.chars().count(),
        });
    }
    out.fill(0);
    let blanks = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let start = if b[blanks..].starts_with(b"0x") {
        blanks + 2
    } else {
        blanks
    };
    let digits = &b[start..];
    // Digits from the last: the i-th from the end is nibble i of the big-endian number.
    for (i, &c) in digits.iter().rev().enumerate() {
        let v = hex_val(c).ok_or_else(|| HexError::Digit(bad_char(s, b.len() - 1 - i)))?;
        let byte = out.len() - 1 - i / 2;
        out[byte] |= if i % 2 == 0 { v } else { v << 4 };
    }
    Ok(())
}

fn bad_char(s: &str, byte_index: usize) -> char {
    // The byte may sit inside a multi-byte character; report the character that holds it.
    s.char_indices()
        .take_while(|(i, _)| *i <= byte_index)
        .last()
        .map(|(_, c)| c)
        .unwrap_or('?')
}

const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Upper-case hex of `bytes`; the reference node's text form for keys and hashes.
pub fn encode_hex_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(UPPER[(b >> 4) as usize] as char);
        s.push(UPPER[(b & 15) as usize] as char);
    }
    s
}

/// [`encode_hex_upper`] into `out` (at least twice as long as `bytes`), for printing
/// without allocating; returns the text.
pub fn hex_upper_into<'o>(bytes: &[u8], out: &'o mut [u8]) -> &'o str {
    let out = &mut out[..bytes.len() * 2];
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = UPPER[(b >> 4) as usize];
        pair[1] = UPPER[(b & 15) as usize];
    }
    std::str::from_utf8(out).expect("hex digits are ASCII")
}

macro_rules! fixed_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;
            pub const ZERO: Self = Self([0u8; $len]);

            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|b| *b == 0)
            }
            /// Parses hex of either case; errors name the length or the bad digit.
            pub fn decode_hex(s: &str) -> Result<Self, HexError> {
                let mut out = [0u8; $len];
                decode_hex_into(s, &mut out)?;
                Ok(Self(out))
            }
            pub fn encode_hex(&self) -> String {
                encode_hex_upper(&self.0)
            }
            /// Reads the value from the front of `bytes`, or `None` when too short.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                let arr: [u8; $len] = bytes.get(..$len)?.try_into().ok()?;
                Some(Self(arr))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ZERO
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(hex_upper_into(&self.0, &mut [0u8; $len * 2]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.encode_hex())
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::decode_hex(s)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(b: [u8; $len]) -> Self {
                Self(b)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
    };
}

fixed_bytes!(
    /// An ed25519 public key; as an account it is printed as a `nano_` address.
    PublicKey, 32
);
fixed_bytes!(
    /// A block hash (BLAKE2b-256 of the block's hashable fields).
    BlockHash, 32
);
fixed_bytes!(
    /// What a block's work and elections are keyed on: `previous`, or the account for a
    /// first block.
    Root, 32
);
fixed_bytes!(
    /// The `link` field of a state block: a destination account for sends, a source hash
    /// for receives, an epoch marker for epoch blocks.
    Link, 32
);
fixed_bytes!(
    /// An ed25519 signature `R ‖ S`.
    Signature, 64
);

/// Accounts are public keys; the alias keeps call sites readable.
pub type Account = PublicKey;

/// Root ‖ previous: identifies the slot two forks compete for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct QualifiedRoot {
    pub root: Root,
    pub previous: BlockHash,
}

impl QualifiedRoot {
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.root.0);
        out[32..].copy_from_slice(&self.previous.0);
        out
    }
    pub fn from_bytes(b: &[u8; 64]) -> Self {
        Self {
            root: Root::from_slice(&b[..32]).unwrap_or_default(),
            previous: BlockHash::from_slice(&b[32..]).unwrap_or_default(),
        }
    }
    pub fn encode_hex(&self) -> String {
        encode_hex_upper(&self.to_bytes())
    }
}

macro_rules! same_bytes {
    ($a:ident, $b:ident) => {
        impl From<$a> for $b {
            fn from(v: $a) -> $b {
                $b(v.0)
            }
        }
        impl From<$b> for $a {
            fn from(v: $b) -> $a {
                $a(v.0)
            }
        }
    };
}
same_bytes!(PublicKey, Root);
same_bytes!(BlockHash, Root);
same_bytes!(PublicKey, Link);
same_bytes!(BlockHash, Link);

impl Link {
    /// The link read as a destination account (sends) — `link_as_account` in JSON.
    pub fn as_account(&self) -> PublicKey {
        PublicKey(self.0)
    }
    /// The link read as a source block hash (receives).
    pub fn as_block_hash(&self) -> BlockHash {
        BlockHash(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_any_case_in_upper_out() {
        let h = BlockHash::decode_hex(
            "991cf190094c00f0b68e2e5f75f6bee95a2e0bd93ceaa4a6734db9f19b728948",
        )
        .unwrap();
        assert_eq!(
            h.to_string(),
            "991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948"
        );
    }

    #[test]
    fn hex_into_a_buffer_is_the_allocated_text() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut out = [0u8; 520];
        assert_eq!(hex_upper_into(&bytes, &mut out), encode_hex_upper(&bytes));
        assert_eq!(&out[512..], &[0u8; 8], "only twice the input is written");
        assert_eq!(hex_upper_into(&[], &mut out), "");
        let k = PublicKey::from_bytes([0xa5; 32]);
        assert_eq!(k.to_string(), "A5".repeat(32));
    }

    #[test]
    fn hex_errors_are_specific() {
        assert_eq!(
            BlockHash::decode_hex("AB"),
            Err(HexError::Length {
                expected: 64,
                got: 2
            })
        );
        let bad = format!("{}G", "0".repeat(63));
        assert_eq!(BlockHash::decode_hex(&bad), Err(HexError::Digit('G')));
        // A multi-byte character must not panic on slicing.
        let s = format!("{}é", "0".repeat(62));
        assert!(BlockHash::decode_hex(&s).is_err());
    }

    #[test]
    fn number_hex_reads_short_texts_as_numbers() {
        let read = |s: &str| {
            let mut out = [0xAAu8; 4];
            decode_number_hex_into(s, &mut out).map(|()| out)
        };
        assert_eq!(read("1"), Ok([0, 0, 0, 1]));
        assert_eq!(read("aBc"), Ok([0, 0, 0x0A, 0xBC]));
        assert_eq!(read("0"), Ok([0; 4]));
        assert_eq!(read("12345678"), Ok([0x12, 0x34, 0x56, 0x78]));
        assert_eq!(
            read("123456789"),
            Err(HexError::Length {
                expected: 8,
                got: 9
            })
        );
        assert_eq!(read("1g2"), Err(HexError::Digit('g')));
        assert!(read("é").is_err());
        // Leading blanks and a `0x` prefix, counted in the length; nothing after them.
        assert_eq!(read(" \t\n\r\x0b\x0c1"), Ok([0, 0, 0, 1]));
        assert_eq!(read("0x1"), Ok([0, 0, 0, 1]));
        assert_eq!(read("  0xaB"), Ok([0, 0, 0, 0xAB]));
        assert_eq!(read("0x0x"), Err(HexError::Digit('x')));
        assert_eq!(read("0X1"), Err(HexError::Digit('X')));
        assert_eq!(read("1 "), Err(HexError::Digit(' ')));
        assert_eq!(read("-1"), Err(HexError::Digit('-')));
        assert_eq!(read("+1"), Err(HexError::Digit('+')));
        assert_eq!(read("x1"), Err(HexError::Digit('x')));
        assert_eq!(
            read("0x1234567"),
            Err(HexError::Length {
                expected: 8,
                got: 9
            })
        );
        // No digit reads as zero; an empty text too, except for a 256-bit number.
        for zero in ["", "   ", "0x", " 0x"] {
            assert_eq!(read(zero), Ok([0; 4]), "{zero:?}");
        }
        let mut hash = [0xAAu8; 32];
        assert!(decode_number_hex_into("", &mut hash).is_err());
        decode_number_hex_into(" ", &mut hash).unwrap();
        assert_eq!(hash, [0; 32]);
        let prefixed = format!("0x{}", "f".repeat(63));
        assert!(decode_number_hex_into(&prefixed, &mut hash).is_err());
        decode_number_hex_into(&prefixed[..64], &mut hash).unwrap();
        assert_eq!(hash[0], 0);
        assert_eq!(hash[1], 0xFF);
        // The full width agrees with the fixed-width reader.
        let full = "991cf190094c00f0b68e2e5f75f6bee95a2e0bd93ceaa4a6734db9f19b728948";
        let mut out = [0u8; 32];
        decode_number_hex_into(full, &mut out).unwrap();
        assert_eq!(BlockHash(out), BlockHash::decode_hex(full).unwrap());
    }
}
