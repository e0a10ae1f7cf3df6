//! Giving back the memory of containers that emptied: Rust's hash maps, sets and
//! deques keep their largest capacity for as long as they live, so a structure that
//! held its bound once (hundreds of thousands of accounts during a large sync) would
//! hold that memory for the rest of the round even when a few entries remain. The
//! ascending client calls this on its long-lived sets so their memory follows what they
//! hold now, not the most they ever held.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// Below this capacity a container is left alone: its memory is small and shrinking it
/// would only make it grow again.
const SHRINK_FLOOR: usize = 4096;

/// A container whose capacity can be reduced.
pub(crate) trait Shrinkable {
    fn len(&self) -> usize;
    fn capacity(&self) -> usize;
    fn shrink_to(&mut self, min: usize);
}

/// The three std containers have the same three methods under the same names.
macro_rules! shrinkable {
    ($($t:ty => [$($g:tt)*]),*) => {$(
        impl<$($g)*> Shrinkable for $t {
            fn len(&self) -> usize {
                <$t>::len(self)
            }
            fn capacity(&self) -> usize {
                <$t>::capacity(self)
            }
            fn shrink_to(&mut self, min: usize) {
                <$t>::shrink_to(self, min)
            }
        }
    )*};
}

shrinkable!(
    HashMap<K, V> => [K: Hash + Eq, V],
    HashSet<K> => [K: Hash + Eq],
    VecDeque<T> => [T]
);

/// Shrinks `c` to twice its length when it uses under a quarter of its capacity
/// (the gap keeps a container that shrinks and grows back from reallocating each
/// time: it must double its entries before it grows again).
pub(crate) fn shrink_sparse<C: Shrinkable>(c: &mut C) {
    let (len, cap) = (c.len(), c.capacity());
    if cap > SHRINK_FLOOR && cap > 4 * len {
        c.shrink_to((2 * len).max(SHRINK_FLOOR / 2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_container_gives_its_capacity_back() {
        let mut m: HashMap<u64, [u8; 32]> = (0..100_000).map(|i| (i, [0; 32])).collect();
        let mut d: VecDeque<u64> = (0..100_000).collect();
        m.retain(|k, _| *k < 10);
        d.truncate(10);
        let (mc, dc) = (m.capacity(), d.capacity());
        shrink_sparse(&mut m);
        shrink_sparse(&mut d);
        assert!(
            m.capacity() < mc / 8 && m.capacity() <= 4 * SHRINK_FLOOR,
            "{}",
            m.capacity()
        );
        assert!(
            d.capacity() < dc / 8 && d.capacity() <= 4 * SHRINK_FLOOR,
            "{}",
            d.capacity()
        );
        assert_eq!(m.len(), 10);
        assert_eq!(
            d.iter().copied().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_full_or_small_container_is_left_alone() {
        let mut full: HashSet<u64> = (0..100_000).collect();
        let cap = full.capacity();
        shrink_sparse(&mut full);
        assert_eq!(full.capacity(), cap);
        let mut small: VecDeque<u8> = VecDeque::with_capacity(100);
        small.push_back(1);
        let cap = small.capacity();
        shrink_sparse(&mut small);
        assert_eq!(small.capacity(), cap);
    }
}
