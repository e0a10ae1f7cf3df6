//! A block held in memory in its wire form: the body bytes in an array the size of the
//! largest body (a state block's 216) and the type code. Tables that keep many blocks
//! for a while and read few of them back (the gap table holds 64 Ki at its bound for most
//! of a sync) store this instead of [`Block`], whose enum takes 240 bytes because the
//! state block's balance aligns the whole value to 16. Reading the block back decodes the
//! body; the root, which the gap table probes, is read from the bytes directly.

use nano_core::{Block, BlockType, Root, StateBlock};

/// Bytes of the largest block body (a state block's): every body fits.
const BODY_MAX: usize = StateBlock::SIZE;

/// Where a body's fields sit, as [`Block::serialize`] writes them (all 32-byte fields).
/// Legacy send, receive and change start with the previous block.
const LEGACY_PREVIOUS: usize = 0;
/// A legacy open's account follows its source and representative.
const OPEN_ACCOUNT: usize = 64;
/// A state block starts with its account, then its previous block.
const STATE_ACCOUNT: usize = 0;
const STATE_PREVIOUS: usize = 32;

/// One block as its wire body (see the module docs).
#[derive(Clone)]
pub struct WireBlock {
    body: [u8; BODY_MAX],
    kind: BlockType,
}

impl WireBlock {
    pub fn new(block: &Block) -> Self {
        let mut bytes = Vec::with_capacity(BODY_MAX);
        block.serialize(&mut bytes);
        let mut body = [0u8; BODY_MAX];
        body[..bytes.len()].copy_from_slice(&bytes);
        WireBlock {
            body,
            kind: block.block_type(),
        }
    }

    /// The block again, field for field.
    pub fn block(&self) -> Block {
        let size = self
            .kind
            .body_size()
            .expect("a wire block is made from a block, so its type is a block type");
        Block::deserialize(self.kind, &self.body[..size])
            .expect("a wire block holds the body its block serialized")
    }

    /// [`Block::root`], read from the body: the previous block, or the account of the
    /// first block of an account.
    pub fn root(&self) -> Root {
        Root::from(match self.kind {
            BlockType::Open => self.field32(OPEN_ACCOUNT),
            BlockType::State => match self.field32(STATE_PREVIOUS) {
                first if first == [0u8; 32] => self.field32(STATE_ACCOUNT),
                previous => previous,
            },
            _ => self.field32(LEGACY_PREVIOUS),
        })
    }

    fn field32(&self, at: usize) -> [u8; 32] {
        self.body[at..at + 32]
            .try_into()
            .expect("the offsets name 32-byte fields inside the body")
    }
}

impl std::fmt::Debug for WireBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WireBlock").field(&self.block()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `kind` whose bytes all differ from their neighbours, so a field read
    /// from the wrong offset gives a wrong value.
    fn body(kind: BlockType, seed: u8) -> Vec<u8> {
        let size = kind.body_size().expect("block types only");
        (0..size)
            .map(|i| seed.wrapping_add((i as u8).wrapping_mul(7)))
            .collect()
    }

    /// One block of every type, the state block both as a first block and not.
    fn every_kind() -> Vec<Block> {
        let kinds = [
            BlockType::Send,
            BlockType::Receive,
            BlockType::Open,
            BlockType::Change,
            BlockType::State,
        ];
        let mut blocks: Vec<Block> = kinds
            .iter()
            .zip(1u8..)
            .map(|(&k, seed)| Block::deserialize(k, &body(k, seed)).expect("sized body"))
            .collect();
        let mut first = body(BlockType::State, 9);
        first[STATE_PREVIOUS..STATE_PREVIOUS + 32].fill(0);
        blocks.push(Block::deserialize(BlockType::State, &first).expect("sized body"));
        blocks
    }

    #[test]
    fn every_kind_comes_back_equal_with_its_root() {
        let blocks = every_kind();
        assert!(blocks[5].previous().is_zero() && !blocks[4].previous().is_zero());
        for b in blocks {
            let w = WireBlock::new(&b);
            assert_eq!(w.block(), b);
            assert_eq!(w.block().hash(), b.hash());
            assert_eq!(w.root(), b.root(), "{:?}", b.block_type());
        }
    }

    #[test]
    fn smaller_than_the_block() {
        let (wire, block) = (
            std::mem::size_of::<WireBlock>(),
            std::mem::size_of::<Block>(),
        );
        println!("WireBlock {wire} bytes, Block {block} bytes");
        assert!(wire <= BODY_MAX + 1, "{wire}");
        assert!(wire < block, "{wire} against {block}");
    }
}
