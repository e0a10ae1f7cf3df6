//! Property tests: every block type survives wire and JSON round trips, and batch
//! verification agrees with single verification on mixed batches.

use nano_core::keys::{verify, verify_batch, KeyPair, RawKey, VerifyItem};
use nano_core::numbers::{BlockHash, Link, PublicKey, Signature};
use nano_core::{Amount, Block, ChangeBlock, OpenBlock, ReceiveBlock, SendBlock, StateBlock};
use proptest::prelude::*;

fn b32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}
fn sig() -> impl Strategy<Value = Signature> {
    (b32(), b32()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        (b32(), b32(), any::<u128>(), sig(), any::<u64>()).prop_map(|(p, d, bal, s, w)| {
            Block::Send(SendBlock {
                previous: BlockHash(p),
                destination: PublicKey(d),
                balance: Amount(bal),
                signature: s,
                work: w,
            })
        }),
        (b32(), b32(), sig(), any::<u64>()).prop_map(|(p, src, s, w)| {
            Block::Receive(ReceiveBlock {
                previous: BlockHash(p),
                source: BlockHash(src),
                signature: s,
                work: w,
            })
        }),
        (b32(), b32(), b32(), sig(), any::<u64>()).prop_map(|(src, r, a, s, w)| {
            Block::Open(OpenBlock {
                source: BlockHash(src),
                representative: PublicKey(r),
                account: PublicKey(a),
                signature: s,
                work: w,
            })
        }),
        (b32(), b32(), sig(), any::<u64>()).prop_map(|(p, r, s, w)| {
            Block::Change(ChangeBlock {
                previous: BlockHash(p),
                representative: PublicKey(r),
                signature: s,
                work: w,
            })
        }),
        (
            b32(),
            b32(),
            b32(),
            any::<u128>(),
            b32(),
            sig(),
            any::<u64>()
        )
            .prop_map(|(a, p, r, bal, l, s, w)| {
                Block::State(StateBlock {
                    account: PublicKey(a),
                    previous: BlockHash(p),
                    representative: PublicKey(r),
                    balance: Amount(bal),
                    link: Link(l),
                    signature: s,
                    work: w,
                })
            }),
    ]
}

proptest! {
    #[test]
    fn wire_round_trip(b in block()) {
        let bytes = b.to_bytes();
        prop_assert_eq!(bytes.len(), b.size());
        let back = Block::deserialize(b.block_type(), &bytes).unwrap();
        prop_assert_eq!(&back, &b);
        let mut typed = Vec::new();
        b.serialize_with_type(&mut typed);
        let (back, used) = Block::deserialize_with_type(&typed).unwrap().unwrap();
        prop_assert_eq!(used, typed.len());
        prop_assert_eq!(back, b);
    }

    #[test]
    fn json_round_trip(b in block()) {
        let text = serde_json::to_string(&b.to_json()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let back = Block::from_json(&v).unwrap();
        prop_assert_eq!(back, b);
    }

    #[test]
    fn address_round_trip(k in b32()) {
        let key = PublicKey(k);
        prop_assert_eq!(PublicKey::decode_account(&key.encode_account()).unwrap(), key);
    }

    #[test]
    fn batch_agrees_with_single(seeds in proptest::collection::vec((b32(), any::<u8>()), 1..40)) {
        let signed: Vec<(PublicKey, Vec<u8>, Signature)> = seeds
            .iter()
            .map(|(seed, corrupt)| {
                let kp = KeyPair::from_private(RawKey(*seed));
                let msg = seed.to_vec();
                let mut s = kp.sign(&msg);
                match corrupt % 4 {
                    0 => s.0[(*corrupt as usize) % 64] ^= 0x01, // corrupt R or S
                    1 => s.0[63] |= 0x20,                       // S top bits set
                    _ => {}                                     // valid
                }
                (kp.public(), msg, s)
            })
            .collect();
        let items: Vec<VerifyItem> = signed
            .iter()
            .map(|(k, m, s)| VerifyItem { key: k, msg: m, sig: s })
            .collect();
        let batch = verify_batch(&items);
        let single: Vec<bool> = signed.iter().map(|(k, m, s)| verify(k, m, s)).collect();
        prop_assert_eq!(batch, single);
    }
}

#[test]
fn json_shape_matches_reference() {
    let p = nano_core::Network::Live.params();
    let v = p.genesis.to_json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "type",
            "source",
            "representative",
            "account",
            "work",
            "signature"
        ]
    );
    assert_eq!(v["work"], "62f05417dd3fb691");
    assert_eq!(
        v["account"],
        "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3"
    );
    let st = Block::State(StateBlock {
        account: p.genesis_account,
        previous: p.genesis_hash,
        representative: p.genesis_account,
        balance: Amount(1),
        link: Link([0xAB; 32]),
        signature: Signature::ZERO,
        work: 1,
    });
    let v = st.to_json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "type",
            "account",
            "previous",
            "representative",
            "balance",
            "link",
            "link_as_account",
            "signature",
            "work"
        ]
    );
    assert_eq!(v["balance"], "1");
    assert_eq!(v["work"], "0000000000000001");
    // link given as an address parses to the same bytes.
    let mut alt = v.clone();
    alt["link"] = v["link_as_account"].clone();
    assert_eq!(Block::from_json(&alt).unwrap(), st);
}
