//! Reading request fields the way the reference node does: values usually arrive as
//! strings, but numbers and booleans are accepted in either form; a missing required
//! field is "Unable to parse JSON" as in the reference (its property-tree lookup throws).

use serde_json::{Map, Value};

use crate::error::{err, msg, RpcError};
use nano_core::{Amount, BlockHash, PublicKey};

pub type Req = Map<String, Value>;

/// A required string field.
pub fn req_str<'a>(r: &'a Req, k: &str) -> Result<&'a str, RpcError> {
    match r.get(k) {
        Some(Value::String(s)) => Ok(s),
        _ => err(msg::UNABLE_TO_PARSE_JSON),
    }
}

/// An optional field as text (strings as-is, numbers and booleans printed).
pub fn opt_text(r: &Req, k: &str) -> Option<String> {
    match r.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Optional boolean as the reference's property tree reads it with a default: `true`,
/// `"true"`, `1`, `"1"` are true, `false`, `"false"`, `0`, `"0"` false, and anything
/// else quietly gives the default (no error).
pub fn opt_bool(r: &Req, k: &str, default: bool) -> Result<bool, RpcError> {
    Ok(match r.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => default,
        },
        Some(Value::Number(n)) => match n.as_u64() {
            Some(1) => true,
            Some(0) => false,
            _ => default,
        },
        _ => default,
    })
}

/// Optional unsigned count; a bad value gives `bad` as the error.
pub fn opt_u64(r: &Req, k: &str, bad: &str) -> Result<Option<u64>, RpcError> {
    match opt_text(r, k) {
        None => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| RpcError::new(bad)),
    }
}

pub fn account(r: &Req, k: &str) -> Result<PublicKey, RpcError> {
    account_text(Some(req_str(r, k)?))
}

/// A required account from its text (`None`: missing or not a string).
pub fn account_text(text: Option<&str>) -> Result<PublicKey, RpcError> {
    let text = text.ok_or_else(|| RpcError::new(msg::UNABLE_TO_PARSE_JSON))?;
    PublicKey::decode_account(text).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))
}

pub fn hash(r: &Req, k: &str) -> Result<BlockHash, RpcError> {
    hash_text(req_str(r, k)?)
}

/// A 256-bit field (a block hash, key, seed or wallet id) as the reference reads one from
/// a request: 1 to 64 hex digits, a short text being the number with its leading zeros
/// left out ([`nano_core::numbers::decode_number_hex_into`]); built by `from` (e.g.
/// `RawKey::from_bytes`), `bad` naming the field's error.
pub fn hex256<T>(s: &str, from: impl FnOnce([u8; 32]) -> T, bad: &str) -> Result<T, RpcError> {
    let mut bytes = [0u8; 32];
    nano_core::numbers::decode_number_hex_into(s, &mut bytes)
        .map(|()| from(bytes))
        .map_err(|_| RpcError::new(bad))
}

/// A block hash as the reference reads one (see [`hex256`]): "1" is the hash
/// 00..01, 65 digits are "Bad hash number".
pub fn hash_text(s: &str) -> Result<BlockHash, RpcError> {
    hex256(s, BlockHash::from_bytes, msg::BAD_HASH)
}

pub fn amount(r: &Req, k: &str) -> Result<Amount, RpcError> {
    let s = opt_text(r, k).ok_or_else(|| RpcError::new(msg::UNABLE_TO_PARSE_JSON))?;
    Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::INVALID_AMOUNT))
}

/// The `json_block` flag: blocks are returned as objects instead of JSON-in-a-string.
pub fn json_block(r: &Req) -> Result<bool, RpcError> {
    opt_bool(r, "json_block", false)
}

/// Renders a block the way the request asked: an object, or its JSON text as the
/// reference's property-tree writer prints it (4-space indent, trailing newline).
pub fn block_out(block_json: Value, as_object: bool) -> Value {
    if as_object {
        return block_json;
    }
    use serde::Serialize;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if block_json.serialize(&mut ser).is_err() {
        return Value::String(String::new());
    }
    out.push(b'\n');
    Value::String(String::from_utf8(out).unwrap_or_default())
}

/// Reads the `block` field: an object when `json_block` is set, else a JSON string
/// (reference behaviour), tolerating either.
pub fn block_in(r: &Req) -> Result<nano_core::Block, RpcError> {
    let v = r
        .get("block")
        .ok_or_else(|| RpcError::new(msg::BLOCK_INVALID))?;
    let parsed;
    let obj = match v {
        Value::String(s) => {
            parsed =
                serde_json::from_str::<Value>(s).map_err(|_| RpcError::new(msg::BLOCK_INVALID))?;
            &parsed
        }
        other => other,
    };
    nano_core::Block::from_json(obj).map_err(|_| RpcError::new(msg::BLOCK_INVALID))
}

/// Each byte of a JSON text with whether it belongs to a string (both quotes included):
/// the one place that reads JSON's string escapes for the checks that scan raw text
/// before (or instead of) parsing it.
pub(crate) fn string_aware(text: &[u8]) -> impl Iterator<Item = (u8, bool)> + '_ {
    let (mut in_str, mut escaped) = (false, false);
    text.iter().map(move |&c| {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            (c, true)
        } else {
            in_str = c == b'"';
            (c, in_str)
        }
    })
}

/// Nesting depth of `{`/`[` in a JSON text, ignoring string contents; checked before
/// parsing so deep input never reaches the parser's recursion.
pub fn json_depth_exceeds(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    for (c, in_str) in string_aware(body) {
        if in_str {
            continue;
        }
        match c {
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_read_as_the_reference_reads_them() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(hash_text("1").unwrap(), BlockHash::from_bytes(one));
        let mut abc = [0u8; 32];
        abc[30] = 0x0a;
        abc[31] = 0xbc;
        assert_eq!(hash_text("aBc").unwrap(), BlockHash::from_bytes(abc));
        let full = "F".repeat(64);
        assert_eq!(hash_text(&full).unwrap(), BlockHash::from_bytes([0xff; 32]));
        // Leading blanks and a `0x` are read; trailing ones and `0X` are not.
        assert_eq!(hash_text(" 1").unwrap(), BlockHash::from_bytes(one));
        assert_eq!(hash_text("0x1").unwrap(), BlockHash::from_bytes(one));
        for bad in ["", "xyz", "1 ", "0X1", &"1".repeat(65)] {
            assert_eq!(
                hash_text(bad).unwrap_err().to_json()["error"],
                msg::BAD_HASH
            );
        }
    }

    #[test]
    fn depth_ignores_strings() {
        assert!(!json_depth_exceeds(br#"{"a":"[[[[[[["}"#, 2));
        assert!(json_depth_exceeds(br#"{"a":[[[1]]]}"#, 3));
        assert!(!json_depth_exceeds(br#"{"a":[[[1]]]}"#, 4));
        assert!(!json_depth_exceeds(br#"{"a":"\"[[[["}"#, 1));
    }

    #[test]
    fn bools_in_both_forms() {
        let r: Req = serde_json::from_str(r#"{"a":"true","b":false,"c":"x"}"#).unwrap();
        assert!(opt_bool(&r, "a", false).unwrap());
        assert!(!opt_bool(&r, "b", true).unwrap());
        // An unreadable value gives the default, as the reference's ptree lookup.
        assert!(opt_bool(&r, "c", true).unwrap());
        assert!(!opt_bool(&r, "c", false).unwrap());
        assert!(opt_bool(&r, "zz", true).unwrap());
    }
}
