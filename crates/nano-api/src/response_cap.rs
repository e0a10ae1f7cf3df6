//! The size cap on RPC v1 answers (`max_response_size` of config-rpc.toml, an extension:
//! the reference sends whatever an action builds). Serialization stops as soon as the
//! text passes the cap, so a too-large answer costs at most the cap in output bytes, and
//! the client gets an error naming the cap instead of a response that can exhaust its
//! memory or the node's.

use std::io::Write;

/// The default cap: the reference's request cap (`max_request_size`, 32 MiB). The largest
/// answers clients rely on fit well under it (`receivable` of 200,000 blocks is about
/// 14 MB); a whole-ledger answer does not.
pub const DEFAULT_MAX_RESPONSE: usize = 32 * 1024 * 1024;

/// The first allocation of an answer's text: single lookups (`account_info`,
/// `block_info`) fit, so they are written without growing the buffer.
const INITIAL_CAPACITY: usize = 1024;

/// The error text for an answer over `cap` bytes.
pub fn too_large(cap: usize) -> String {
    format!(
        "Response larger than max_response_size ({cap} bytes); ask for fewer entries (count) or raise max_response_size in config-rpc.toml"
    )
}

/// A writer that fails once more than `cap` bytes were written.
struct Capped {
    out: Vec<u8>,
    cap: usize,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.cap {
            return Err(std::io::Error::other("over the response cap"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `v` as JSON text, or the error answer when the text would exceed `cap` bytes.
pub fn to_json_capped<T: serde::Serialize + ?Sized>(v: &T, cap: usize) -> Vec<u8> {
    let mut w = Capped {
        // Room for the common small answer without regrowing.
        out: Vec::with_capacity(INITIAL_CAPACITY.min(cap)),
        cap,
    };
    match serde_json::to_writer(&mut w, v) {
        Ok(()) => w.out,
        Err(_) => serde_json::json!({ "error": too_large(cap) })
            .to_string()
            .into_bytes(),
    }
}

/// An answer's text whose type bounds its size (a record of single values, at most a few
/// kilobytes, written whole), or the over-the-cap error answer of [`to_json_capped`].
pub fn held_to_cap(text: Vec<u8>, cap: usize) -> Vec<u8> {
    if text.len() <= cap {
        return text;
    }
    serde_json::json!({ "error": too_large(cap) })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn answers_up_to_the_cap_pass_and_larger_ones_become_an_error() {
        let v = serde_json::json!({"blocks": ["A".repeat(100)]});
        let text = v.to_string();
        assert_eq!(to_json_capped(&v, text.len()), text.as_bytes());
        let refused: Value = serde_json::from_slice(&to_json_capped(&v, text.len() - 1)).unwrap();
        assert_eq!(refused["error"], too_large(text.len() - 1));
        assert_eq!(
            held_to_cap(text.clone().into_bytes(), text.len()),
            text.as_bytes()
        );
        assert_eq!(
            held_to_cap(text.clone().into_bytes(), text.len() - 1),
            to_json_capped(&v, text.len() - 1)
        );
    }
}
