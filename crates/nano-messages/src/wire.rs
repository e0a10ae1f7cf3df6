//! A bounds-checked cursor over a payload. Every read returns an error instead of
//! panicking, so the message parsers built on it are total.

use nano_core::{Amount, BlockHash, PublicKey, Signature};

use crate::error::MessageError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], MessageError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(MessageError::Truncated {
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], MessageError> {
        let s = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, MessageError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16_be(&mut self) -> Result<u16, MessageError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32_be(&mut self) -> Result<u32, MessageError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32_le(&mut self) -> Result<u32, MessageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64_be(&mut self) -> Result<u64, MessageError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64_le(&mut self) -> Result<u64, MessageError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn hash(&mut self) -> Result<BlockHash, MessageError> {
        Ok(BlockHash(self.array()?))
    }
    pub(crate) fn key(&mut self) -> Result<PublicKey, MessageError> {
        Ok(PublicKey(self.array()?))
    }
    pub(crate) fn sig(&mut self) -> Result<Signature, MessageError> {
        Ok(Signature(self.array()?))
    }
    pub(crate) fn amount(&mut self) -> Result<Amount, MessageError> {
        Ok(Amount::from_be_bytes(self.array()?))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    /// Requires that the whole payload was consumed.
    pub(crate) fn finish(&self) -> Result<(), MessageError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(MessageError::TrailingBytes { count }),
        }
    }
}
