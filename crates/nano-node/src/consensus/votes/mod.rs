//! Votes in and out: the vote processor (verification, tallying, relaying), the vote
//! generator of local representatives, the answers to peers' confirm_req, and the cache of
//! votes for blocks without an election.

pub mod cache;
pub(crate) mod generator;
pub(crate) mod processor;
pub(crate) mod request_aggregator;
pub(crate) mod rules;

use nano_messages::Vote;

/// The reference prints vote signatures as one big decimal number.
fn decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            let v = (*d as u32) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    digits.iter().rev().map(|d| (b'0' + d) as char).collect()
}

/// The vote JSON of the WebSocket `vote` topic (without `type`).
pub fn vote_json(vote: &Vote) -> serde_json::Value {
    serde_json::json!({
        "account": vote.account.encode_account(),
        "signature": decimal(&vote.signature.0),
        "sequence": vote.timestamp.to_string(),
        "timestamp": vote.timestamp.to_string(),
        "duration": vote.duration_code().to_string(),
        "blocks": vote.hashes.iter().map(|h| h.encode_hex()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_core::BlockHash;

    #[test]
    fn decimal_signature() {
        assert_eq!(decimal(&[0]), "0");
        assert_eq!(decimal(&[1, 0]), "256");
        assert_eq!(decimal(&[0xff, 0xff, 0xff, 0xff]), "4294967295");
    }

    #[test]
    fn vote_json_shape() {
        let k = nano_ledger::test_support::dev_genesis_key();
        let v = Vote::new_final(&k, vec![BlockHash([1; 32])]);
        let j = vote_json(&v);
        assert_eq!(j["timestamp"], "18446744073709551615");
        assert_eq!(j["blocks"][0], BlockHash([1; 32]).encode_hex());
    }
}
