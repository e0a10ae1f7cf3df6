//! Answer text written straight into its buffer, for the most frequent queries
//! (`account_info`, `block_count`): a flat JSON object of string values, as the reference
//! prints every number. Hashes, amounts and counts are hex or decimal digits and need no
//! escaping, so they are printed into the output as they are, and so are the keys (field
//! names in the code); only free texts (addresses, versions) are checked, and escaped
//! through `serde_json` should one ever need it. No `Value` tree, no serializer state, no `Display` machinery per field.

use nano_core::{Amount, BlockHash};

/// The first allocation of an answer's text: `account_info` with every optional field
/// is about 1 KB, so no answer written here grows its buffer.
const INITIAL_CAPACITY: usize = 1024;

/// A value printed as a JSON string's contents.
pub trait PlainText {
    /// Appends the value's text, without quotes, escaped where it needs it.
    fn write_plain(&self, out: &mut Vec<u8>);
}

/// The digits of upper-case hex, as the reference prints hashes.
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

impl PlainText for BlockHash {
    /// Into a stack buffer first and appended once: a push per digit checks the
    /// buffer's room 64 times per hash, which was most of an `account_info` answer's
    /// writing time (four hashes).
    fn write_plain(&self, out: &mut Vec<u8>) {
        let mut hex = [0u8; 64];
        for (pair, b) in hex.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX_UPPER[usize::from(b >> 4)];
            pair[1] = HEX_UPPER[usize::from(b & 15)];
        }
        out.extend_from_slice(&hex);
    }
}

/// Prints `v`'s decimal digits at the end of `buf`; the index of the first.
fn decimal_digits(mut v: u64, buf: &mut [u8; 20]) -> usize {
    let mut i = buf.len();
    // Bounded: a u64 has at most 20 digits.
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

impl PlainText for u64 {
    fn write_plain(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 20];
        let first = decimal_digits(*self, &mut buf);
        out.extend_from_slice(&buf[first..]);
    }
}

/// 10^19, the largest power of ten in a `u64`: a `u128` is printed as at most three
/// `u64` pieces of up to 19 digits, the lower ones zero-padded.
const TEN_19: u128 = 10_000_000_000_000_000_000;

impl PlainText for Amount {
    fn write_plain(&self, out: &mut Vec<u8>) {
        let v = self.0;
        if v <= u64::MAX as u128 {
            return (v as u64).write_plain(out);
        }
        let high = v / TEN_19;
        Amount(high).write_plain(out);
        // The lower piece in exactly 19 digits, zeros first.
        let mut buf = [b'0'; 20];
        decimal_digits((v - high * TEN_19) as u64, &mut buf);
        out.extend_from_slice(&buf[1..]);
    }
}

impl PlainText for &str {
    fn write_plain(&self, out: &mut Vec<u8>) {
        if self.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.extend_from_slice(self.as_bytes());
        } else {
            // serde_json's string, less its quotes: the same escapes as any other answer.
            let quoted = serde_json::to_string(self).unwrap_or_default();
            let inner = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or("");
            out.extend_from_slice(inner.as_bytes());
        }
    }
}

impl PlainText for String {
    fn write_plain(&self, out: &mut Vec<u8>) {
        self.as_str().write_plain(out)
    }
}

/// A JSON object being written: fields in the order they are added.
pub struct ObjectText {
    out: Vec<u8>,
}

impl Default for ObjectText {
    fn default() -> Self {
        let mut out = Vec::with_capacity(INITIAL_CAPACITY);
        out.push(b'{');
        ObjectText { out }
    }
}

impl ObjectText {
    /// Adds `"key":"value"`. The key is a field name written in the code (letters and
    /// underscores), copied as it is.
    pub fn field(&mut self, key: &'static str, value: &impl PlainText) -> &mut Self {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":\"");
        value.write_plain(&mut self.out);
        self.out.push(b'"');
        self
    }

    /// Adds the field when there is a value.
    pub fn field_if(&mut self, key: &'static str, value: &Option<impl PlainText>) -> &mut Self {
        if let Some(v) = value {
            self.field(key, v);
        }
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &impl PlainText) -> String {
        let mut out = Vec::new();
        v.write_plain(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_print_as_display_does() {
        let amounts = [
            0,
            9,
            10,
            u64::MAX as u128,
            u64::MAX as u128 + 1,
            TEN_19 - 1,
            TEN_19,
            TEN_19 + 7,
            TEN_19 * TEN_19,
            TEN_19 * TEN_19 + 1,
            1_000_000_000_000_000_000_000_000_000_000,
            u128::MAX - 1_500,
            u128::MAX,
        ];
        for a in amounts {
            assert_eq!(text(&Amount(a)), a.to_string());
        }
        for n in [0u64, 7, 10, 99, 100, 12_345, u64::MAX - 1, u64::MAX] {
            assert_eq!(text(&n), n.to_string());
        }
        // Every byte value, in every position of a hash.
        for k in 0..8u8 {
            let h: [u8; 32] = std::array::from_fn(|i| k * 32 + i as u8);
            assert_eq!(text(&BlockHash(h)), BlockHash(h).to_string());
        }
    }

    #[test]
    fn objects_are_serde_json_text() {
        let mut o = ObjectText::default();
        o.field("count", &12u64)
            .field_if("absent", &None::<u64>)
            .field("escaped", &"a\\b\n\"c\"")
            .field_if("hash", &Some(BlockHash([0x5A; 32])))
            .field("address", &"nano_1abc".to_string());
        let expected = serde_json::json!({
            "count": "12",
            "escaped": "a\\b\n\"c\"",
            "hash": BlockHash([0x5A; 32]).to_string(),
            "address": "nano_1abc",
        });
        assert_eq!(String::from_utf8(o.finish()).unwrap(), expected.to_string());
        assert_eq!(ObjectText::default().finish(), b"{}");
    }
}
