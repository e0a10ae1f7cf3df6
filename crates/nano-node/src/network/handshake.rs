//! node_id_handshake bookkeeping shared by TCP and UDP: the per-endpoint syn cookies
//! (random, single use, expiring after 5 s, bounded per IP) and the checks a response
//! must pass before a peer becomes a channel.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nano_core::{BlockHash, KeyPair, PublicKey};
use nano_messages::{Cookie, HandshakeResponse, NodeIdHandshake};

/// How long an unanswered cookie stays valid.
pub const COOKIE_CUTOFF: Duration = Duration::from_secs(5);

/// Most outstanding cookies in all. TCP cookies are bounded by the connection caps
/// (2048 inbound plus 2048 outbound), UDP ones by the handshake rate (500/s for 5 s);
/// this is above both, so it only bites when many source addresses flood queries.
pub const COOKIES_MAX: usize = 8192;

/// Outstanding cookies, one per remote endpoint.
pub struct SynCookies {
    max_per_ip: usize,
    cookies: Mutex<HashMap<SocketAddrV6, (Cookie, Instant)>>,
}

impl SynCookies {
    pub fn new(max_per_ip: usize) -> SynCookies {
        SynCookies {
            max_per_ip: max_per_ip.max(1),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddrV6, (Cookie, Instant)>> {
        self.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh cookie for `ep`, or None when one is already outstanding for that endpoint
    /// or its IP has too many.
    pub fn assign(&self, ep: SocketAddrV6) -> Option<Cookie> {
        let mut m = self.lock();
        if let Some((_, t)) = m.get(&ep) {
            if t.elapsed() < COOKIE_CUTOFF {
                return None;
            }
        }
        if m.len() >= COOKIES_MAX {
            m.retain(|_, (_, t)| t.elapsed() < COOKIE_CUTOFF);
            if m.len() >= COOKIES_MAX {
                return None;
            }
        }
        let ip: Ipv6Addr = *ep.ip();
        let per_ip = m
            .iter()
            .filter(|(k, (_, t))| *k.ip() == ip && **k != ep && t.elapsed() < COOKIE_CUTOFF)
            .count();
        if per_ip >= self.max_per_ip {
            return None;
        }
        let cookie: Cookie = rand::random();
        m.insert(ep, (cookie, Instant::now()));
        Some(cookie)
    }

    /// Takes the cookie for `ep` (single use).
    pub fn take(&self, ep: &SocketAddrV6) -> Option<Cookie> {
        self.lock()
            .remove(ep)
            .filter(|(_, t)| t.elapsed() < COOKIE_CUTOFF)
            .map(|(c, _)| c)
    }

    /// Drops expired cookies; called periodically.
    pub fn purge(&self) {
        self.lock().retain(|_, (_, t)| t.elapsed() < COOKIE_CUTOFF);
    }
}

/// Why a handshake failed; each is counted as a stat detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    NoCookie,
    OwnNodeId,
    WrongGenesis,
    BadSignature,
    Unexpected,
    Timeout,
    Duplicate,
    Refused,
}

impl HandshakeFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::NoCookie => "no_cookie",
            HandshakeFailure::OwnNodeId => "own_node_id",
            HandshakeFailure::WrongGenesis => "wrong_genesis",
            HandshakeFailure::BadSignature => "bad_signature",
            HandshakeFailure::Unexpected => "unexpected_message",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Duplicate => "duplicate_channel",
            HandshakeFailure::Refused => "refused",
        }
    }
}

/// Checks a peer's response against the cookie we sent to `ep` (consuming it): not our
/// own node id, our genesis (v2), a valid signature. Returns the peer's node id.
pub fn verify_response(
    cookies: &SynCookies,
    ep: &SocketAddrV6,
    response: &HandshakeResponse,
    own_id: &PublicKey,
    genesis: &BlockHash,
) -> Result<PublicKey, HandshakeFailure> {
    let cookie = cookies.take(ep).ok_or(HandshakeFailure::NoCookie)?;
    if response.node_id == *own_id {
        return Err(HandshakeFailure::OwnNodeId);
    }
    if let Some(v2) = &response.v2 {
        if v2.genesis != *genesis {
            return Err(HandshakeFailure::WrongGenesis);
        }
    }
    if !response.verify(&cookie) {
        return Err(HandshakeFailure::BadSignature);
    }
    Ok(response.node_id)
}

/// Our response to a peer's query: v2 (salted, genesis-bound) when the query asked for it.
pub fn respond(query: &Cookie, v2: bool, key: &KeyPair, genesis: BlockHash) -> HandshakeResponse {
    if v2 {
        HandshakeResponse::sign_v2(query, rand::random(), genesis, key)
    } else {
        HandshakeResponse::sign_v1(query, key)
    }
}

/// A handshake message carrying an optional query and an optional response.
pub fn message(query: Option<Cookie>, response: Option<HandshakeResponse>) -> NodeIdHandshake {
    NodeIdHandshake {
        query,
        response,
        v2: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn ep(port: u16) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0)
    }

    #[test]
    fn cookies_are_single_use_and_bounded_per_ip() {
        let c = SynCookies::new(2);
        let a = c.assign(ep(1)).unwrap();
        assert!(c.assign(ep(1)).is_none(), "one outstanding per endpoint");
        c.assign(ep(2)).unwrap();
        assert!(c.assign(ep(3)).is_none(), "two per IP");
        assert_eq!(c.take(&ep(1)), Some(a));
        assert_eq!(c.take(&ep(1)), None);
    }

    #[test]
    fn verifies_responses() {
        let genesis = BlockHash([7; 32]);
        let me = KeyPair::random();
        let peer = KeyPair::random();
        let c = SynCookies::new(4);
        let cookie = c.assign(ep(1)).unwrap();
        let r = respond(&cookie, true, &peer, genesis);
        assert_eq!(
            verify_response(&c, &ep(1), &r, &me.public(), &genesis),
            Ok(peer.public())
        );
        // Consumed.
        assert_eq!(
            verify_response(&c, &ep(1), &r, &me.public(), &genesis),
            Err(HandshakeFailure::NoCookie)
        );
        let cookie = c.assign(ep(1)).unwrap();
        let r = respond(&cookie, true, &peer, BlockHash([8; 32]));
        assert_eq!(
            verify_response(&c, &ep(1), &r, &me.public(), &genesis),
            Err(HandshakeFailure::WrongGenesis)
        );
        let cookie = c.assign(ep(1)).unwrap();
        let r = respond(&cookie, true, &me, genesis);
        assert_eq!(
            verify_response(&c, &ep(1), &r, &me.public(), &genesis),
            Err(HandshakeFailure::OwnNodeId)
        );
        let _ = c.assign(ep(1)).unwrap();
        let r = respond(&[9; 32], true, &peer, genesis);
        assert_eq!(
            verify_response(&c, &ep(1), &r, &me.public(), &genesis),
            Err(HandshakeFailure::BadSignature)
        );
    }
}
