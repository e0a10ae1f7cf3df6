//! Nano's ed25519 (BLAKE2b-512 in place of SHA-512): key expansion, signing, single and
//! batch verification, and deterministic keys from a seed.
//!
//! Verification follows the reference node's ed25519-donna rather than RFC 8032's strict
//! rules, because a node that rejects what the network accepts forks itself off: only the
//! top three bits of `S` are checked (S ≥ L is reduced, not refused), the public key's `y`
//! is reduced mod p, and the recomputed `R` is compared byte-for-byte with the signature's.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::RngCore;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hash::{blake2b_256, blake2b_512};
use crate::numbers::{decode_hex_into, encode_hex_upper, HexError, PublicKey, Signature};

/// A 32-byte private key or seed. Wiped from memory when dropped; never printed by
/// `Debug` so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RawKey(pub [u8; 32]);

impl RawKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        RawKey(b)
    }
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        rand::rng().fill_bytes(&mut b);
        RawKey(b)
    }
    pub fn decode_hex(s: &str) -> Result<Self, HexError> {
        let mut b = [0u8; 32];
        decode_hex_into(s, &mut b)?;
        Ok(RawKey(b))
    }
    /// Upper-case hex; only for the places that must show a private key (key tools, RPC).
    pub fn encode_hex(&self) -> String {
        encode_hex_upper(&self.0)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The private key at `index` of this seed: BLAKE2b-256(seed ‖ index as BE u32).
    pub fn derive(&self, index: u32) -> RawKey {
        RawKey(blake2b_256(&[&self.0, &index.to_be_bytes()]))
    }
}

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawKey(<hidden>)")
    }
}

/// A private key expanded for signing, with its public key.
#[derive(Clone)]
pub struct KeyPair {
    private: RawKey,
    scalar: Scalar,
    prefix: [u8; 32],
    public: PublicKey,
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.scalar.zeroize();
        self.prefix.zeroize();
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.public.encode_account())
    }
}

fn clamp(mut b: [u8; 32]) -> [u8; 32] {
    b[0] &= 248;
    b[31] &= 127;
    b[31] |= 64;
    b
}

impl KeyPair {
    pub fn from_private(private: RawKey) -> Self {
        let mut h = blake2b_512(&[&private.0]);
        let mut lower = [0u8; 32];
        lower.copy_from_slice(&h[..32]);
        let clamped = clamp(lower);
        let scalar = Scalar::from_bytes_mod_order(clamped);
        let public = PublicKey(
            EdwardsPoint::mul_base_clamped(clamped)
                .compress()
                .to_bytes(),
        );
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&h[32..]);
        h.zeroize();
        lower.zeroize();
        KeyPair {
            private,
            scalar,
            prefix,
            public,
        }
    }
    pub fn random() -> Self {
        Self::from_private(RawKey::random())
    }
    pub fn public(&self) -> PublicKey {
        self.public
    }
    pub fn account(&self) -> PublicKey {
        self.public
    }
    pub fn private(&self) -> &RawKey {
        &self.private
    }
    /// Deterministic ed25519 signature over `msg` (a block or vote hash, or raw bytes for
    /// handshakes and telemetry).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        let r = Scalar::from_bytes_mod_order_wide(&blake2b_512(&[&self.prefix, msg]));
        let big_r = EdwardsPoint::mul_base(&r).compress();
        let k = Scalar::from_bytes_mod_order_wide(&blake2b_512(&[
            big_r.as_bytes(),
            &self.public.0,
            msg,
        ]));
        let s = r + k * self.scalar;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        Signature(sig)
    }
}

/// Public key for a private key without keeping the expanded form.
pub fn public_from_private(private: &RawKey) -> PublicKey {
    KeyPair::from_private(private.clone()).public()
}

fn s_scalar(sig: &Signature) -> Option<Scalar> {
    // ed25519-donna rejects only when one of the three top bits of S is set.
    if sig.0[63] & 0xE0 != 0 {
        return None;
    }
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig.0[32..]);
    Some(Scalar::from_bytes_mod_order(s))
}

fn challenge(sig: &Signature, key: &PublicKey, msg: &[u8]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&blake2b_512(&[&sig.0[..32], &key.0, msg]))
}

/// Decompressed public keys, most recently used kept. Decompression is a square root
/// (about a quarter of a verification), and the same keys sign again and again:
/// representatives voting, accounts extending their chains. Bounded: cleared when full.
static KEY_CACHE: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<[u8; 32], EdwardsPoint>>,
> = std::sync::LazyLock::new(|| std::sync::Mutex::new(std::collections::HashMap::new()));
const KEY_CACHE_MAX: usize = 16_384;

/// The public key as a curve point, from the cache when possible; `None` for bytes that
/// are not a point (never cached).
fn decompress_key(key: &PublicKey) -> Option<EdwardsPoint> {
    if let Ok(c) = KEY_CACHE.lock() {
        if let Some(p) = c.get(&key.0) {
            return Some(*p);
        }
    }
    let p = CompressedEdwardsY(key.0).decompress()?;
    if let Ok(mut c) = KEY_CACHE.lock() {
        if c.len() >= KEY_CACHE_MAX {
            c.clear();
        }
        c.insert(key.0, p);
    }
    Some(p)
}

/// Forgets cached keys; for benchmarks that measure verification with unseen keys.
pub fn clear_key_cache() {
    if let Ok(mut c) = KEY_CACHE.lock() {
        c.clear();
    }
}

/// 2^255 − 19 in little-endian bytes.
const P_LE: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// Whether a point encoding is the one `compress` would produce: `y < p`, and no sign bit
/// on the two points whose `x` is zero (`y = ±1`). Cheaper than re-compressing, which
/// costs a field inversion.
fn is_canonical_encoding(b: &[u8; 32]) -> bool {
    let mut y = *b;
    let sign = y[31] >> 7;
    y[31] &= 0x7f;
    // y < p, compared from the most significant byte down.
    let mut less = false;
    for i in (0..32).rev() {
        if y[i] != P_LE[i] {
            less = y[i] < P_LE[i];
            break;
        }
    }
    if !less {
        return false;
    }
    if sign == 1 {
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut minus_one = P_LE;
        minus_one[0] -= 1;
        if y == one || y == minus_one {
            return false;
        }
    }
    true
}

/// True when `sig` is `key`'s signature of `msg` under the reference node's rules.
pub fn verify(key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    let Some(a) = decompress_key(key) else {
        return false;
    };
    let Some(s) = s_scalar(sig) else {
        return false;
    };
    let k = challenge(sig, key, msg);
    let r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s);
    r.compress().as_bytes()[..] == sig.0[..32]
}

/// One signature of a batch.
pub struct VerifyItem<'a> {
    pub key: &'a PublicKey,
    pub msg: &'a [u8],
    pub sig: &'a Signature,
}

/// Verifies many signatures at once and returns validity per signature, in order.
///
/// A random linear combination of all equations is checked with one multi-scalar
/// multiplication; if it fails, each signature is checked alone so one bad signature only
/// costs its own verification. Results agree with [`verify`] for every ordinary signature;
/// as with the reference node's batch verifier, a crafted signature whose error is a
/// small-order point can survive the combined check with small probability.
pub fn verify_batch(items: &[VerifyItem<'_>]) -> Vec<bool> {
    let mut result = vec![false; items.len()];
    if items.len() < 4 {
        for (i, it) in items.iter().enumerate() {
            result[i] = verify(it.key, it.msg, it.sig);
        }
        return result;
    }
    let mut rng = rand::rng();
    let mut scalars = Vec::with_capacity(items.len() * 2 + 1);
    let mut points = Vec::with_capacity(items.len() * 2 + 1);
    let mut b_coeff = Scalar::ZERO;
    let mut in_batch = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let Some(a) = decompress_key(it.key) else {
            continue;
        };
        let Some(s) = s_scalar(it.sig) else {
            continue;
        };
        let mut rb = [0u8; 32];
        rb.copy_from_slice(&it.sig.0[..32]);
        let Some(r) = CompressedEdwardsY(rb).decompress() else {
            continue;
        };
        // Single verification compares encodings, so a non-canonical R can never pass.
        if !is_canonical_encoding(&rb) {
            continue;
        }
        let k = challenge(it.sig, it.key, it.msg);
        let mut zb = [0u8; 32];
        rng.fill_bytes(&mut zb[..16]);
        zb[0] |= 1;
        let z = Scalar::from_bytes_mod_order(zb);
        b_coeff += z * s;
        scalars.push(-z);
        points.push(r);
        scalars.push(-(z * k));
        points.push(a);
        in_batch.push(i);
    }
    scalars.push(b_coeff);
    points.push(ED25519_BASEPOINT_POINT);
    let combined = EdwardsPoint::vartime_multiscalar_mul(scalars.iter(), points.iter());
    if combined.is_identity() {
        for i in in_batch {
            result[i] = true;
        }
    } else {
        for i in in_batch {
            let it = &items[i];
            result[i] = verify(it.key, it.msg, it.sig);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_encoding_matches_recompression() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let mut cases: Vec<[u8; 32]> = vec![P_LE, [0xff; 32], [0; 32]];
        let mut one = [0u8; 32];
        one[0] = 1;
        cases.push(one);
        let mut neg_zero = one;
        neg_zero[31] |= 0x80;
        cases.push(neg_zero);
        let mut p_plus_one = P_LE;
        p_plus_one[0] += 1; // y = p + 1 ≡ 1, non-canonical
        cases.push(p_plus_one);
        for i in 0..200u8 {
            cases.push(KeyPair::from_private(RawKey([i; 32])).public().0);
            let mut b = [i; 32];
            b[31] = i.wrapping_mul(37);
            cases.push(b);
        }
        for b in cases {
            if let Some(pt) = CompressedEdwardsY(b).decompress() {
                assert_eq!(
                    is_canonical_encoding(&b),
                    pt.compress().to_bytes() == b,
                    "{b:?}"
                );
            }
        }
    }

    #[test]
    fn zero_private_key_vector() {
        let kp = KeyPair::from_private(RawKey([0u8; 32]));
        assert_eq!(
            kp.public().encode_hex(),
            "19D3D919475DEED4696B5D13018151D1AF88B2BD3BCFF048B45031C1F36D1858"
        );
    }

    #[test]
    fn seed_derivation_vector() {
        let k = RawKey([0u8; 32]).derive(0);
        assert_eq!(
            k.encode_hex(),
            "9F0E444C69F77A49BD0BE89DB92C38FE713E0963165CCA12FAF5712D7657120F"
        );
        let kp = KeyPair::from_private(k);
        assert_eq!(
            kp.public().encode_hex(),
            "C008B814A7D269A1FA3C6528B19201A24D797912DB9996FF02A1FF356E45552B"
        );
        assert_eq!(
            kp.public().encode_account(),
            "nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7"
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let kp = KeyPair::random();
        let sig = kp.sign(b"hello");
        assert!(verify(&kp.public(), b"hello", &sig));
        assert!(!verify(&kp.public(), b"hellp", &sig));
        let mut bad = sig;
        bad.0[0] ^= 1;
        assert!(!verify(&kp.public(), b"hello", &bad));
        let other = KeyPair::random();
        assert!(!verify(&other.public(), b"hello", &sig));
    }

    /// S + L is a different encoding of the same scalar. RFC 8032 verifiers (and
    /// ed25519-dalek's default) refuse it; ed25519-donna, used by the reference node,
    /// checks only the top three bits and accepts it, so we must too.
    #[test]
    fn non_canonical_s_is_accepted_like_donna() {
        let kp = KeyPair::from_private(RawKey([7u8; 32]));
        let msg = b"non-canonical";
        let sig = kp.sign(msg);
        // L = 2^252 + 27742317777372353535851937790883648493, little endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut s = [0u8; 32];
        s.copy_from_slice(&sig.0[32..]);
        // s + L (little-endian add); s < L so the sum is < 2^253 and its top 3 bits are clear.
        let mut carry = 0u16;
        let mut sum = [0u8; 32];
        for i in 0..32 {
            let v = s[i] as u16 + l[i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(sum[31] & 0xE0, 0);
        assert!(sum[31] & 0x10 != 0, "S + L is >= 2^252, i.e. non-canonical");
        let mut nc = sig;
        nc.0[32..].copy_from_slice(&sum);
        assert!(verify(&kp.public(), msg, &nc));
        // A set top bit is still refused, as donna does.
        let mut top = sig;
        top.0[63] |= 0x80;
        assert!(!verify(&kp.public(), msg, &top));
        // The batch path agrees.
        let key = kp.public();
        let items: Vec<VerifyItem> = (0..8)
            .map(|i| VerifyItem {
                key: &key,
                msg,
                sig: if i % 2 == 0 { &nc } else { &top },
            })
            .collect();
        assert_eq!(
            verify_batch(&items),
            vec![true, false, true, false, true, false, true, false]
        );
    }
}
