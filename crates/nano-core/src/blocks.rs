//! The five block types: their wire bytes (body, and body with a type prefix as used in
//! bootstrap streams), their hashes, roots and signers, and the reference node's JSON form.

use serde_json::{Map, Value};

use crate::amount::Amount;
use crate::hash::blake2b_256;
use crate::keys::{verify, KeyPair};
use crate::numbers::{
    decode_number_hex_into, BlockHash, Link, PublicKey, QualifiedRoot, Root, Signature,
};

/// Block type codes as they appear on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BlockType {
    Invalid = 0,
    NotABlock = 1,
    Send = 2,
    Receive = 3,
    Open = 4,
    Change = 5,
    State = 6,
}

impl BlockType {
    pub fn from_u8(v: u8) -> Option<BlockType> {
        Some(match v {
            0 => BlockType::Invalid,
            1 => BlockType::NotABlock,
            2 => BlockType::Send,
            3 => BlockType::Receive,
            4 => BlockType::Open,
            5 => BlockType::Change,
            6 => BlockType::State,
            _ => return None,
        })
    }
    /// Body size on the wire, or `None` for the two non-block codes.
    pub fn body_size(self) -> Option<usize> {
        match self {
            BlockType::Send => Some(SendBlock::SIZE),
            BlockType::Receive => Some(ReceiveBlock::SIZE),
            BlockType::Open => Some(OpenBlock::SIZE),
            BlockType::Change => Some(ChangeBlock::SIZE),
            BlockType::State => Some(StateBlock::SIZE),
            BlockType::Invalid | BlockType::NotABlock => None,
        }
    }
    /// The name the reference node uses in JSON (`"state"`, `"send"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BlockType::Invalid => "invalid",
            BlockType::NotABlock => "not_a_block",
            BlockType::Send => "send",
            BlockType::Receive => "receive",
            BlockType::Open => "open",
            BlockType::Change => "change",
            BlockType::State => "state",
        }
    }
    pub fn from_name(s: &str) -> Option<BlockType> {
        Some(match s {
            "send" => BlockType::Send,
            "receive" => BlockType::Receive,
            "open" => BlockType::Open,
            "change" => BlockType::Change,
            "state" => BlockType::State,
            _ => return None,
        })
    }
}

/// Why bytes or JSON could not become a block. Messages are meant for RPC callers and
/// peers' logs, so they name the field or the size at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("unknown block type {0}")]
    UnknownType(u8),
    #[error("block type {0} carries no block")]
    NotABlock(u8),
    #[error("block of type {block_type} needs {expected} bytes, got {got}")]
    Size {
        block_type: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("block JSON: {0}")]
    Json(String),
}

fn json_err(field: &str, what: impl std::fmt::Display) -> BlockError {
    BlockError::Json(format!("field {field:?}: {what}"))
}

/// Legacy send: moves funds out of `previous`'s account, leaving `balance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendBlock {
    pub previous: BlockHash,
    pub destination: PublicKey,
    pub balance: Amount,
    pub signature: Signature,
    pub work: u64,
}
/// Legacy receive of the send `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveBlock {
    pub previous: BlockHash,
    pub source: BlockHash,
    pub signature: Signature,
    pub work: u64,
}
/// Legacy open: the first block of `account`, receiving `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBlock {
    pub source: BlockHash,
    pub representative: PublicKey,
    pub account: PublicKey,
    pub signature: Signature,
    pub work: u64,
}
/// Legacy representative change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBlock {
    pub previous: BlockHash,
    pub representative: PublicKey,
    pub signature: Signature,
    pub work: u64,
}
/// Universal block: the whole account state after this block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBlock {
    pub account: PublicKey,
    pub previous: BlockHash,
    pub representative: PublicKey,
    pub balance: Amount,
    pub link: Link,
    pub signature: Signature,
    pub work: u64,
}

impl SendBlock {
    pub const SIZE: usize = 152;
}
impl ReceiveBlock {
    pub const SIZE: usize = 136;
}
impl OpenBlock {
    pub const SIZE: usize = 168;
}
impl ChangeBlock {
    pub const SIZE: usize = 136;
}
impl StateBlock {
    pub const SIZE: usize = 216;
}

/// The preamble hashed in front of a state block: the number 6 as 32 big-endian bytes.
const STATE_PREAMBLE: [u8; 32] = {
    let mut p = [0u8; 32];
    p[31] = 6;
    p
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Send(SendBlock),
    Receive(ReceiveBlock),
    Open(OpenBlock),
    Change(ChangeBlock),
    State(StateBlock),
}

/// A cursor that never reads past the end; callers check the total size first.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}
impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.b[self.pos..self.pos + N]);
        self.pos += N;
        out
    }
    fn key(&mut self) -> PublicKey {
        PublicKey(self.take())
    }
    fn hash(&mut self) -> BlockHash {
        BlockHash(self.take())
    }
    fn sig(&mut self) -> Signature {
        Signature(self.take())
    }
    fn amount(&mut self) -> Amount {
        Amount::from_be_bytes(self.take())
    }
}

impl Block {
    pub fn block_type(&self) -> BlockType {
        match self {
            Block::Send(_) => BlockType::Send,
            Block::Receive(_) => BlockType::Receive,
            Block::Open(_) => BlockType::Open,
            Block::Change(_) => BlockType::Change,
            Block::State(_) => BlockType::State,
        }
    }

    pub fn is_state(&self) -> bool {
        matches!(self, Block::State(_))
    }

    /// BLAKE2b-256 of the hashable fields: the block's identity and what is signed.
    pub fn hash(&self) -> BlockHash {
        BlockHash(match self {
            Block::Send(b) => {
                blake2b_256(&[&b.previous.0, &b.destination.0, &b.balance.to_be_bytes()])
            }
            Block::Receive(b) => blake2b_256(&[&b.previous.0, &b.source.0]),
            Block::Open(b) => blake2b_256(&[&b.source.0, &b.representative.0, &b.account.0]),
            Block::Change(b) => blake2b_256(&[&b.previous.0, &b.representative.0]),
            Block::State(b) => blake2b_256(&[
                &STATE_PREAMBLE,
                &b.account.0,
                &b.previous.0,
                &b.representative.0,
                &b.balance.to_be_bytes(),
                &b.link.0,
            ]),
        })
    }

    /// Hash of hash, signature and work: tells apart copies of a block whose signature or
    /// work differ (local de-duplication only).
    pub fn full_hash(&self) -> BlockHash {
        BlockHash(blake2b_256(&[
            &self.hash().0,
            &self.signature().0,
            &self.work().to_le_bytes(),
        ]))
    }

    /// `previous`, or zero for a first block (open, or state with no previous).
    pub fn previous(&self) -> BlockHash {
        match self {
            Block::Send(b) => b.previous,
            Block::Receive(b) => b.previous,
            Block::Open(_) => BlockHash::ZERO,
            Block::Change(b) => b.previous,
            Block::State(b) => b.previous,
        }
    }

    /// What work is computed over and elections are keyed on.
    pub fn root(&self) -> Root {
        match self {
            Block::Open(b) => b.account.into(),
            Block::State(b) if b.previous.is_zero() => b.account.into(),
            other => other.previous().into(),
        }
    }

    pub fn qualified_root(&self) -> QualifiedRoot {
        QualifiedRoot {
            root: self.root(),
            previous: self.previous(),
        }
    }

    /// The account field, for the block types that carry one (open and state).
    pub fn account_field(&self) -> Option<PublicKey> {
        match self {
            Block::Open(b) => Some(b.account),
            Block::State(b) => Some(b.account),
            _ => None,
        }
    }
    pub fn representative_field(&self) -> Option<PublicKey> {
        match self {
            Block::Open(b) => Some(b.representative),
            Block::Change(b) => Some(b.representative),
            Block::State(b) => Some(b.representative),
            _ => None,
        }
    }
    pub fn balance_field(&self) -> Option<Amount> {
        match self {
            Block::Send(b) => Some(b.balance),
            Block::State(b) => Some(b.balance),
            _ => None,
        }
    }
    /// The source hash of a legacy receive or open.
    pub fn source_field(&self) -> Option<BlockHash> {
        match self {
            Block::Receive(b) => Some(b.source),
            Block::Open(b) => Some(b.source),
            _ => None,
        }
    }
    pub fn destination_field(&self) -> Option<PublicKey> {
        match self {
            Block::Send(b) => Some(b.destination),
            _ => None,
        }
    }
    pub fn link_field(&self) -> Option<Link> {
        match self {
            Block::State(b) => Some(b.link),
            _ => None,
        }
    }

    pub fn signature(&self) -> Signature {
        match self {
            Block::Send(b) => b.signature,
            Block::Receive(b) => b.signature,
            Block::Open(b) => b.signature,
            Block::Change(b) => b.signature,
            Block::State(b) => b.signature,
        }
    }
    pub fn set_signature(&mut self, sig: Signature) {
        match self {
            Block::Send(b) => b.signature = sig,
            Block::Receive(b) => b.signature = sig,
            Block::Open(b) => b.signature = sig,
            Block::Change(b) => b.signature = sig,
            Block::State(b) => b.signature = sig,
        }
    }
    pub fn work(&self) -> u64 {
        match self {
            Block::Send(b) => b.work,
            Block::Receive(b) => b.work,
            Block::Open(b) => b.work,
            Block::Change(b) => b.work,
            Block::State(b) => b.work,
        }
    }
    pub fn set_work(&mut self, work: u64) {
        match self {
            Block::Send(b) => b.work = work,
            Block::Receive(b) => b.work = work,
            Block::Open(b) => b.work = work,
            Block::Change(b) => b.work = work,
            Block::State(b) => b.work = work,
        }
    }

    /// Signs the block's hash with `key` (the caller picks the right signer).
    pub fn sign(&mut self, key: &KeyPair) {
        let sig = key.sign(&self.hash().0);
        self.set_signature(sig);
    }

    /// True when `signer` signed this block's hash.
    pub fn verify_signature(&self, signer: &PublicKey) -> bool {
        verify(signer, &self.hash().0, &self.signature())
    }

    pub fn size(&self) -> usize {
        self.block_type().body_size().unwrap_or(0)
    }

    /// Appends the wire body (no type byte).
    pub fn serialize(&self, out: &mut Vec<u8>) {
        match self {
            Block::Send(b) => {
                out.extend_from_slice(&b.previous.0);
                out.extend_from_slice(&b.destination.0);
                out.extend_from_slice(&b.balance.to_be_bytes());
                out.extend_from_slice(&b.signature.0);
                out.extend_from_slice(&b.work.to_le_bytes());
            }
            Block::Receive(b) => {
                out.extend_from_slice(&b.previous.0);
                out.extend_from_slice(&b.source.0);
                out.extend_from_slice(&b.signature.0);
                out.extend_from_slice(&b.work.to_le_bytes());
            }
            Block::Open(b) => {
                out.extend_from_slice(&b.source.0);
                out.extend_from_slice(&b.representative.0);
                out.extend_from_slice(&b.account.0);
                out.extend_from_slice(&b.signature.0);
                out.extend_from_slice(&b.work.to_le_bytes());
            }
            Block::Change(b) => {
                out.extend_from_slice(&b.previous.0);
                out.extend_from_slice(&b.representative.0);
                out.extend_from_slice(&b.signature.0);
                out.extend_from_slice(&b.work.to_le_bytes());
            }
            Block::State(b) => {
                out.extend_from_slice(&b.account.0);
                out.extend_from_slice(&b.previous.0);
                out.extend_from_slice(&b.representative.0);
                out.extend_from_slice(&b.balance.to_be_bytes());
                out.extend_from_slice(&b.link.0);
                out.extend_from_slice(&b.signature.0);
                // State blocks carry their work big-endian, legacy ones little-endian.
                out.extend_from_slice(&b.work.to_be_bytes());
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.size());
        self.serialize(&mut v);
        v
    }

    /// Appends the type byte then the body, as bootstrap streams carry blocks.
    pub fn serialize_with_type(&self, out: &mut Vec<u8>) {
        out.push(self.block_type() as u8);
        self.serialize(out);
    }

    /// Decodes a body of exactly the size of `block_type`.
    pub fn deserialize(block_type: BlockType, bytes: &[u8]) -> Result<Block, BlockError> {
        let expected = block_type
            .body_size()
            .ok_or(BlockError::NotABlock(block_type as u8))?;
        if bytes.len() != expected {
            return Err(BlockError::Size {
                block_type: block_type.as_str(),
                expected,
                got: bytes.len(),
            });
        }
        let mut r = Reader { b: bytes, pos: 0 };
        Ok(match block_type {
            BlockType::Send => Block::Send(SendBlock {
                previous: r.hash(),
                destination: r.key(),
                balance: r.amount(),
                signature: r.sig(),
                work: u64::from_le_bytes(r.take()),
            }),
            BlockType::Receive => Block::Receive(ReceiveBlock {
                previous: r.hash(),
                source: r.hash(),
                signature: r.sig(),
                work: u64::from_le_bytes(r.take()),
            }),
            BlockType::Open => Block::Open(OpenBlock {
                source: r.hash(),
                representative: r.key(),
                account: r.key(),
                signature: r.sig(),
                work: u64::from_le_bytes(r.take()),
            }),
            BlockType::Change => Block::Change(ChangeBlock {
                previous: r.hash(),
                representative: r.key(),
                signature: r.sig(),
                work: u64::from_le_bytes(r.take()),
            }),
            BlockType::State => Block::State(StateBlock {
                account: r.key(),
                previous: r.hash(),
                representative: r.key(),
                balance: r.amount(),
                link: Link(r.take()),
                signature: r.sig(),
                work: u64::from_be_bytes(r.take()),
            }),
            BlockType::Invalid | BlockType::NotABlock => unreachable!("checked by body_size"),
        })
    }

    /// Decodes `type byte ‖ body` from the front of `bytes`; returns the block and the
    /// bytes consumed. `Ok(None)` is the `not_a_block` terminator of a stream.
    pub fn deserialize_with_type(bytes: &[u8]) -> Result<Option<(Block, usize)>, BlockError> {
        let Some(&t) = bytes.first() else {
            return Err(BlockError::Size {
                block_type: "typed",
                expected: 1,
                got: 0,
            });
        };
        let bt = BlockType::from_u8(t).ok_or(BlockError::UnknownType(t))?;
        if bt == BlockType::NotABlock {
            return Ok(None);
        }
        let size = bt.body_size().ok_or(BlockError::NotABlock(t))?;
        let body = bytes.get(1..1 + size).ok_or(BlockError::Size {
            block_type: bt.as_str(),
            expected: size,
            got: bytes.len().saturating_sub(1),
        })?;
        Ok(Some((Block::deserialize(bt, body)?, 1 + size)))
    }

    /// The reference node's JSON object for this block, fields in its order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.block_type().as_str().into());
        let work = Value::String(format!("{:016x}", self.work()));
        let sig = Value::String(self.signature().encode_hex());
        match self {
            Block::Send(b) => {
                m.insert("previous".into(), b.previous.encode_hex().into());
                m.insert("destination".into(), b.destination.encode_account().into());
                m.insert("balance".into(), b.balance.encode_hex().into());
                m.insert("work".into(), work);
                m.insert("signature".into(), sig);
            }
            Block::Receive(b) => {
                m.insert("previous".into(), b.previous.encode_hex().into());
                m.insert("source".into(), b.source.encode_hex().into());
                m.insert("work".into(), work);
                m.insert("signature".into(), sig);
            }
            Block::Open(b) => {
                m.insert("source".into(), b.source.encode_hex().into());
                m.insert(
                    "representative".into(),
                    b.representative.encode_account().into(),
                );
                m.insert("account".into(), b.account.encode_account().into());
                m.insert("work".into(), work);
                m.insert("signature".into(), sig);
            }
            Block::Change(b) => {
                m.insert("previous".into(), b.previous.encode_hex().into());
                m.insert(
                    "representative".into(),
                    b.representative.encode_account().into(),
                );
                m.insert("work".into(), work);
                m.insert("signature".into(), sig);
            }
            Block::State(b) => {
                m.insert("account".into(), b.account.encode_account().into());
                m.insert("previous".into(), b.previous.encode_hex().into());
                m.insert(
                    "representative".into(),
                    b.representative.encode_account().into(),
                );
                m.insert("balance".into(), b.balance.encode_dec().into());
                m.insert("link".into(), b.link.encode_hex().into());
                m.insert(
                    "link_as_account".into(),
                    b.link.as_account().encode_account().into(),
                );
                m.insert("signature".into(), sig);
                m.insert("work".into(), work);
            }
        }
        Value::Object(m)
    }

    /// Parses the reference JSON form. `link` may be hex or an address; unknown keys
    /// (such as `subtype` or `link_as_account`) are ignored.
    pub fn from_json(v: &Value) -> Result<Block, BlockError> {
        let obj = v
            .as_object()
            .ok_or_else(|| BlockError::Json("block must be a JSON object".into()))?;
        let f = |name: &str| -> Result<&str, BlockError> {
            obj.get(name)
                .ok_or_else(|| json_err(name, "missing"))?
                .as_str()
                .ok_or_else(|| json_err(name, "must be a string"))
        };
        // Hashes, links, signatures and a send's balance are read as the reference reads
        // them: a hex number of up to the field's width, leading zeros optional.
        let number = |name: &str, out: &mut [u8]| -> Result<(), BlockError> {
            decode_number_hex_into(f(name)?, out).map_err(|e| json_err(name, e))
        };
        let hash = |name: &str| -> Result<BlockHash, BlockError> {
            let mut b = [0u8; 32];
            number(name, &mut b).map(|()| BlockHash(b))
        };
        let account = |name: &str| -> Result<PublicKey, BlockError> {
            PublicKey::decode_account(f(name)?).map_err(|e| json_err(name, e))
        };
        let sig = || -> Result<Signature, BlockError> {
            let mut b = [0u8; 64];
            number("signature", &mut b).map(|()| Signature(b))
        };
        let work = || -> Result<u64, BlockError> { parse_work_hex(f("work")?) };
        let t = f("type")?;
        let bt =
            BlockType::from_name(t).ok_or_else(|| json_err("type", format!("unknown {t:?}")))?;
        Ok(match bt {
            BlockType::Send => Block::Send(SendBlock {
                previous: hash("previous")?,
                destination: account("destination")?,
                balance: {
                    let mut b = [0u8; 16];
                    number("balance", &mut b).map(|()| Amount::from_be_bytes(b))?
                },
                signature: sig()?,
                work: work()?,
            }),
            BlockType::Receive => Block::Receive(ReceiveBlock {
                previous: hash("previous")?,
                source: hash("source")?,
                signature: sig()?,
                work: work()?,
            }),
            BlockType::Open => Block::Open(OpenBlock {
                source: hash("source")?,
                representative: account("representative")?,
                account: account("account")?,
                signature: sig()?,
                work: work()?,
            }),
            BlockType::Change => Block::Change(ChangeBlock {
                previous: hash("previous")?,
                representative: account("representative")?,
                signature: sig()?,
                work: work()?,
            }),
            BlockType::State => {
                let link_s = f("link")?;
                let mut b = [0u8; 32];
                let link = match decode_number_hex_into(link_s, &mut b) {
                    Ok(()) => Link(b),
                    Err(_) => PublicKey::decode_account(link_s)
                        .map(Link::from)
                        .map_err(|e| json_err("link", e))?,
                };
                Block::State(StateBlock {
                    account: account("account")?,
                    previous: hash("previous")?,
                    representative: account("representative")?,
                    balance: Amount::decode_dec(f("balance")?)
                        .map_err(|e| json_err("balance", e))?,
                    link,
                    signature: sig()?,
                    work: work()?,
                })
            }
            BlockType::Invalid | BlockType::NotABlock => unreachable!("from_name"),
        })
    }
}

/// Work as written in JSON: 1 to 16 hex digits of either case.
pub fn parse_work_hex(s: &str) -> Result<u64, BlockError> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(json_err("work", "expected 1 to 16 hex digits"));
    }
    u64::from_str_radix(s, 16).map_err(|e| json_err("work", e))
}

/// Builders used by wallets, RPC `block_create` and tests: fill the fields, sign, and
/// optionally set work.
impl StateBlock {
    pub fn new_signed(
        account: PublicKey,
        previous: BlockHash,
        representative: PublicKey,
        balance: Amount,
        link: Link,
        key: &KeyPair,
        work: u64,
    ) -> Block {
        let mut b = Block::State(StateBlock {
            account,
            previous,
            representative,
            balance,
            link,
            signature: Signature::ZERO,
            work,
        });
        b.sign(key);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(s: &str) -> PublicKey {
        PublicKey::decode_account(s).unwrap()
    }

    #[test]
    fn upstream_hash_vectors() {
        let state = Block::State(StateBlock {
            account: acct("xrb_15nhh1kzw3x8ohez6s75wy3jr6dqgq65oaede1fzk5hqxk4j8ehz7iqtb3to"),
            previous: BlockHash::decode_hex(
                "FEFBCE274E75148AB31FF63EFB3082EF1126BF72BF3FA9C76A97FD5A9F0EBEC5",
            )
            .unwrap(),
            representative: acct(
                "xrb_1stofnrxuz3cai7ze75o174bpm7scwj9jn3nxsn8ntzg784jf1gzn1jjdkou",
            ),
            balance: Amount::decode_dec("2251569974100400000000000000000000").unwrap(),
            link: Link::decode_hex(
                "E16DD58C1EFA8B521545B0A74375AA994D9FC43828A4266D75ECF57F07A7EE86",
            )
            .unwrap(),
            signature: Signature::ZERO,
            work: 0,
        });
        assert_eq!(
            state.hash().encode_hex(),
            "2D243F8F92CDD0AD94A1D456A6B15F3BE7A6FCBD98D4C5831D06D15C818CD81F"
        );
        let change = Block::Change(ChangeBlock {
            previous: BlockHash::decode_hex(
                "088EE46429CA936F76C4EAA20B97F6D33E5D872971433EE0C1311BCB98764456",
            )
            .unwrap(),
            representative: acct(
                "xrb_3rropjiqfxpmrrkooej4qtmm1pueu36f9ghinpho4esfdor8785a455d16nf",
            ),
            signature: Signature::ZERO,
            work: 0,
        });
        assert_eq!(
            change.hash().encode_hex(),
            "13552AC3928E93B5C6C215F61879358E248D4A5246B8B3D1EEC5A566EDCEE077"
        );
        let send = Block::Send(SendBlock {
            previous: BlockHash::decode_hex(
                "F685856D73A488894F7F3A62BC3A88E17E985F9969629FF3FDD4A0D4FD823F24",
            )
            .unwrap(),
            destination: acct("xrb_1gys8r4crpxhp94n4uho5cshaho81na6454qni5gu9n53gksoyy1wcd4udyb"),
            balance: Amount::decode_hex("00F035A9C7D818E7C34148C524FFFFEE").unwrap(),
            signature: Signature::ZERO,
            work: 0,
        });
        assert_eq!(
            send.hash().encode_hex(),
            "4560E7B1F3735D082700CFC2852F5D1F378F7418FD24CEF1AD45AB69316F15CD"
        );
        let receive = Block::Receive(ReceiveBlock {
            previous: BlockHash::decode_hex(
                "59660153194CAC5DAC08509D87970BF86F6AEA943025E2A7ED7460930594950E",
            )
            .unwrap(),
            source: BlockHash::decode_hex(
                "7B2B0A29C1B235FDF9B4DEF2984BB3573BD1A52D28246396FBB3E4C5FE662135",
            )
            .unwrap(),
            signature: Signature::ZERO,
            work: 0,
        });
        assert_eq!(
            receive.hash().encode_hex(),
            "6C004BF911D9CF2ED75CF6EC45E795122AD5D093FF5A83EDFBA43EC4A3EDC722"
        );
    }

    #[test]
    fn work_byte_order_differs_by_type() {
        let mut st = Block::State(StateBlock {
            account: PublicKey::ZERO,
            previous: BlockHash::ZERO,
            representative: PublicKey::ZERO,
            balance: Amount::ZERO,
            link: Link::ZERO,
            signature: Signature::ZERO,
            work: 0x0102030405060708,
        });
        let bytes = st.to_bytes();
        assert_eq!(&bytes[208..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        st = Block::Receive(ReceiveBlock {
            previous: BlockHash::ZERO,
            source: BlockHash::ZERO,
            signature: Signature::ZERO,
            work: 0x0102030405060708,
        });
        let bytes = st.to_bytes();
        assert_eq!(&bytes[128..], &[8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn sizes_are_checked() {
        assert!(matches!(
            Block::deserialize(BlockType::State, &[0u8; 215]),
            Err(BlockError::Size { expected: 216, .. })
        ));
        assert!(matches!(
            Block::deserialize(BlockType::NotABlock, &[]),
            Err(BlockError::NotABlock(1))
        ));
        assert_eq!(
            Block::deserialize_with_type(&[9, 0, 0]),
            Err(BlockError::UnknownType(9))
        );
        assert_eq!(Block::deserialize_with_type(&[1]), Ok(None));
        assert!(Block::deserialize_with_type(&[6, 0, 0]).is_err());
    }

    /// The reference reads a block's hex fields as numbers: a short text is the value with
    /// its leading zeros left out, so it names the same block as the full-width text.
    #[test]
    fn json_hex_fields_may_leave_out_leading_zeros() {
        let pad = |s: &str, w: usize| format!("{s:0>w$}");
        let state = |prev: &str, link: &str, sig: &str| {
            serde_json::json!({"type": "state",
                "account": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
                "previous": prev,
                "representative": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
                "balance": "5", "link": link, "signature": sig, "work": "1"})
        };
        let short = Block::from_json(&state("1a", "Ff", "7")).unwrap();
        let full =
            Block::from_json(&state(&pad("1A", 64), &pad("ff", 64), &pad("7", 128))).unwrap();
        assert_eq!(short, full);
        assert_eq!(
            short.previous(),
            BlockHash::decode_hex(&pad("1A", 64)).unwrap()
        );
        for (prev, link, sig) in [
            ("", "1", "1"),
            ("1", &*"1".repeat(65), "1"),
            ("1", "1", &*"1".repeat(129)),
        ] {
            assert!(
                Block::from_json(&state(prev, link, sig)).is_err(),
                "{prev} {link} {sig}"
            );
        }
        let send = |balance: &str| {
            serde_json::json!({"type": "send", "previous": "1",
                "destination": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
                "balance": balance, "signature": "0", "work": "0"})
        };
        let b = Block::from_json(&send("10")).unwrap();
        assert_eq!(b, Block::from_json(&send(&pad("10", 32))).unwrap());
        assert!(Block::from_json(&send(&"1".repeat(33))).is_err());
    }

    #[test]
    fn json_errors_name_the_field() {
        let v = serde_json::json!({"type": "receive", "previous": "0g", "source": "00"});
        let e = Block::from_json(&v).unwrap_err().to_string();
        assert!(e.contains("previous"), "{e}");
        let v = serde_json::json!({"type": "bogus"});
        assert!(Block::from_json(&v)
            .unwrap_err()
            .to_string()
            .contains("type"));
        assert!(parse_work_hex("12345678901234567").is_err());
        assert_eq!(parse_work_hex("ff").unwrap(), 255);
    }
}
