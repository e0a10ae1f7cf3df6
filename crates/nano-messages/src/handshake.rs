//! node_id_handshake (0x0a): the query cookie, the v1 and v2 responses, and the signed
//! data of each (v1: the cookie; v2: cookie ‖ salt ‖ genesis hash).

use nano_core::keys::verify;
use nano_core::{BlockHash, KeyPair, PublicKey, Signature};

use crate::error::MessageError;
use crate::header::ext;
use crate::wire::Reader;

/// The random 32 bytes a node asks its peer to sign.
pub type Cookie = [u8; 32];

/// Proof that the sender owns `node_id`: a signature over the peer's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub node_id: PublicKey,
    pub signature: Signature,
    /// Present in v2 responses; binds the signature to a fresh salt and the network.
    pub v2: Option<HandshakeV2>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeV2 {
    pub salt: [u8; 32],
    pub genesis: BlockHash,
}

impl HandshakeResponse {
    /// A v1 response: signs the cookie alone (only for v1 queries).
    pub fn sign_v1(cookie: &Cookie, key: &KeyPair) -> HandshakeResponse {
        HandshakeResponse {
            node_id: key.public(),
            signature: key.sign(cookie),
            v2: None,
        }
    }

    /// A v2 response, as the reference node answers queries flagged v2.
    pub fn sign_v2(
        cookie: &Cookie,
        salt: [u8; 32],
        genesis: BlockHash,
        key: &KeyPair,
    ) -> HandshakeResponse {
        let v2 = HandshakeV2 { salt, genesis };
        HandshakeResponse {
            node_id: key.public(),
            signature: key.sign(&Self::signed_data(cookie, Some(&v2))),
            v2: Some(v2),
        }
    }

    fn signed_data(cookie: &Cookie, v2: Option<&HandshakeV2>) -> Vec<u8> {
        let mut data = Vec::with_capacity(96);
        data.extend_from_slice(cookie);
        if let Some(v2) = v2 {
            data.extend_from_slice(&v2.salt);
            data.extend_from_slice(&v2.genesis.0);
        }
        data
    }

    /// True when the signature over `cookie` (and salt and genesis for v2) is valid for
    /// `node_id`. Checking the genesis against one's own and that `node_id` is not one's
    /// own is the caller's job.
    pub fn verify(&self, cookie: &Cookie) -> bool {
        verify(
            &self.node_id,
            &Self::signed_data(cookie, self.v2.as_ref()),
            &self.signature,
        )
    }

    fn size(v2: bool) -> usize {
        if v2 {
            160
        } else {
            96
        }
    }
}

/// A handshake message: a query, a response, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdHandshake {
    pub query: Option<Cookie>,
    pub response: Option<HandshakeResponse>,
    /// The header's v2 bit. With a response attached, the bit always follows the
    /// response's version when encoding; on a query-only message it asks for a v2 answer
    /// (the reference node always sets it).
    pub v2: bool,
}

impl NodeIdHandshake {
    /// A query as the reference node sends it (v2 flag set).
    pub fn query(cookie: Cookie) -> NodeIdHandshake {
        NodeIdHandshake {
            query: Some(cookie),
            response: None,
            v2: true,
        }
    }

    pub(crate) fn extensions(&self) -> u16 {
        let mut e = 0;
        if self.query.is_some() {
            e |= ext::HANDSHAKE_QUERY;
        }
        let v2 = match &self.response {
            Some(r) => {
                e |= ext::HANDSHAKE_RESPONSE;
                r.v2.is_some()
            }
            None => self.v2,
        };
        if v2 {
            e |= ext::HANDSHAKE_V2;
        }
        e
    }

    pub(crate) fn decode(r: &mut Reader<'_>, extensions: u16) -> Result<Self, MessageError> {
        let v2 = extensions & ext::HANDSHAKE_V2 != 0;
        let query = if extensions & ext::HANDSHAKE_QUERY != 0 {
            Some(r.array()?)
        } else {
            None
        };
        let response = if extensions & ext::HANDSHAKE_RESPONSE != 0 {
            let node_id = r.key()?;
            let v2_part = if v2 {
                Some(HandshakeV2 {
                    salt: r.array()?,
                    genesis: r.hash()?,
                })
            } else {
                None
            };
            Some(HandshakeResponse {
                node_id,
                signature: r.sig()?,
                v2: v2_part,
            })
        } else {
            None
        };
        Ok(NodeIdHandshake {
            query,
            response,
            v2,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        if let Some(c) = &self.query {
            out.extend_from_slice(c);
        }
        if let Some(r) = &self.response {
            out.extend_from_slice(&r.node_id.0);
            if let Some(v2) = &r.v2 {
                out.extend_from_slice(&v2.salt);
                out.extend_from_slice(&v2.genesis.0);
            }
            out.extend_from_slice(&r.signature.0);
        }
    }

    pub(crate) fn payload_size(&self) -> usize {
        self.query.map_or(0, |_| 32)
            + self
                .response
                .as_ref()
                .map_or(0, |r| HandshakeResponse::size(r.v2.is_some()))
    }
}
