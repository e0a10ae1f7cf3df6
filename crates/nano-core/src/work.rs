//! Proof of work: the work value of a (root, nonce) pair, the per-network thresholds and
//! how the ledger picks one, multiplier arithmetic for RPC, and a multi-threaded,
//! cancellable CPU generator built on 4-way SIMD BLAKE2b.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use blake2b_simd::many::{hash_many, HashManyJob};
use blake2b_simd::Params;

use crate::epoch::Epoch;
use crate::numbers::Root;

/// Only one work algorithm exists; RPC still names it (`work_1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkVersion {
    Work1,
}

/// The work value ("difficulty") of `nonce` over `root`:
/// LE u64 of BLAKE2b-64(LE nonce ‖ root).
pub fn work_value(root: &Root, nonce: u64) -> u64 {
    let h = Params::new()
        .hash_length(8)
        .to_state()
        .update(&nonce.to_le_bytes())
        .update(&root.0)
        .finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(h.as_bytes());
    u64::from_le_bytes(b)
}

/// A network's work thresholds. The ledger uses `epoch_1` for anything below epoch 2,
/// and `epoch_2`/`epoch_2_receive` once an account is at epoch 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkThresholds {
    pub epoch_1: u64,
    pub epoch_2: u64,
    pub epoch_2_receive: u64,
    /// The highest threshold: what multipliers are expressed against.
    pub base: u64,
    /// The lowest threshold: what a block must reach to be accepted off the network.
    pub entry: u64,
}

impl WorkThresholds {
    pub const LIVE: WorkThresholds = WorkThresholds {
        epoch_1: 0xffffffc000000000,
        epoch_2: 0xfffffff800000000,
        epoch_2_receive: 0xfffffe0000000000,
        base: 0xfffffff800000000,
        entry: 0xfffffe0000000000,
    };
    pub const BETA: WorkThresholds = WorkThresholds {
        epoch_1: 0xfffff00000000000,
        epoch_2: 0xfffff00000000000,
        epoch_2_receive: 0xffffe00000000000,
        base: 0xfffff00000000000,
        entry: 0xffffe00000000000,
    };
    pub const DEV: WorkThresholds = WorkThresholds {
        epoch_1: 0xfe00000000000000,
        epoch_2: 0xffc0000000000000,
        epoch_2_receive: 0xf000000000000000,
        base: 0xffc0000000000000,
        entry: 0xf000000000000000,
    };

    /// The ledger's threshold for a block: `epoch` is the block's epoch (for receives,
    /// the higher of account and source epochs; for epoch blocks, the new epoch) and
    /// `receive_like` is true for receives, opens and epoch blocks.
    pub fn threshold(&self, epoch: Epoch, receive_like: bool) -> u64 {
        match epoch {
            Epoch::Epoch2 if receive_like => self.epoch_2_receive,
            Epoch::Epoch2 => self.epoch_2,
            _ => self.epoch_1,
        }
    }

    /// True when the work meets the ledger threshold for that epoch and kind of block.
    pub fn validate(&self, root: &Root, work: u64, epoch: Epoch, receive_like: bool) -> bool {
        work_value(root, work) >= self.threshold(epoch, receive_like)
    }

    /// Network entry filter: state blocks need `entry`, legacy blocks `epoch_1`.
    pub fn validate_entry(&self, root: &Root, work: u64, is_state: bool) -> bool {
        let t = if is_state { self.entry } else { self.epoch_1 };
        work_value(root, work) >= t
    }

    /// Expresses a multiplier measured against `threshold` relative to `base`, as RPC and
    /// telemetry report everything against the send/change threshold.
    pub fn normalized_multiplier(&self, multiplier: f64, threshold: u64) -> f64 {
        if threshold == self.epoch_1 || threshold == self.epoch_2_receive {
            let ratio = to_multiplier(self.base, threshold);
            (multiplier + ratio - 1.0) / ratio
        } else {
            multiplier
        }
    }

    /// Inverse of [`Self::normalized_multiplier`].
    pub fn denormalized_multiplier(&self, multiplier: f64, threshold: u64) -> f64 {
        if threshold == self.epoch_1 || threshold == self.epoch_2_receive {
            let ratio = to_multiplier(self.base, threshold);
            multiplier * ratio + 1.0 - ratio
        } else {
            multiplier
        }
    }
}

/// How many times harder `difficulty` is than `base`: (2^64 − base) / (2^64 − difficulty).
pub fn to_multiplier(difficulty: u64, base: u64) -> f64 {
    base.wrapping_neg() as f64 / difficulty.wrapping_neg() as f64
}

/// The difficulty that is `multiplier` times `base`: 2^64 − (2^64 − base) / multiplier.
pub fn from_multiplier(multiplier: f64, base: u64) -> u64 {
    let reverse = base.wrapping_neg() as f64 / multiplier;
    if !reverse.is_finite() || reverse > u64::MAX as f64 {
        0
    } else if reverse >= 1.0 || base == 0 || multiplier < 1.0 {
        (reverse as u64).wrapping_neg()
    } else {
        u64::MAX
    }
}

/// Scans `count` nonces from `start` and returns the first whose value reaches
/// `threshold`. Nonces go four or eight at a time through SIMD BLAKE2b.
pub fn search_range(root: &Root, threshold: u64, start: u64, count: u64) -> Option<u64> {
    const LANES: usize = 8;
    let params = {
        let mut p = Params::new();
        p.hash_length(8);
        p
    };
    let mut inputs = [[0u8; 40]; LANES];
    for inp in inputs.iter_mut() {
        inp[8..].copy_from_slice(&root.0);
    }
    let mut done = 0u64;
    while done < count {
        let base = start.wrapping_add(done);
        for (i, inp) in inputs.iter_mut().enumerate() {
            inp[..8].copy_from_slice(&base.wrapping_add(i as u64).to_le_bytes());
        }
        let mut jobs: [HashManyJob; LANES] = [
            HashManyJob::new(&params, &inputs[0]),
            HashManyJob::new(&params, &inputs[1]),
            HashManyJob::new(&params, &inputs[2]),
            HashManyJob::new(&params, &inputs[3]),
            HashManyJob::new(&params, &inputs[4]),
            HashManyJob::new(&params, &inputs[5]),
            HashManyJob::new(&params, &inputs[6]),
            HashManyJob::new(&params, &inputs[7]),
        ];
        hash_many(jobs.iter_mut());
        for (i, job) in jobs.iter().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(job.to_hash().as_bytes());
            if u64::from_le_bytes(b) >= threshold && done + (i as u64) < count {
                return Some(base.wrapping_add(i as u64));
            }
        }
        done += LANES as u64;
    }
    None
}

/// Finds work for `root` reaching `threshold` on `threads` threads. Returns `None` when
/// `cancel` is set before a solution is found; the flag is polled every few thousand
/// hashes so cancellation takes effect within microseconds.
pub fn generate(root: &Root, threshold: u64, threads: usize, cancel: &AtomicBool) -> Option<u64> {
    let threads = threads.max(1);
    let found = AtomicBool::new(false);
    let result = AtomicU64::new(0);
    let seed: u64 = rand::random();
    std::thread::scope(|s| {
        for t in 0..threads {
            let found = &found;
            let result = &result;
            s.spawn(move || {
                // Each thread walks its own region of the nonce space.
                let mut next = seed.wrapping_add((t as u64) << 56);
                const CHUNK: u64 = 4096;
                while !found.load(Ordering::Relaxed) && !cancel.load(Ordering::Relaxed) {
                    if let Some(n) = search_range(root, threshold, next, CHUNK) {
                        if !found.swap(true, Ordering::AcqRel) {
                            result.store(n, Ordering::Release);
                        }
                        return;
                    }
                    next = next.wrapping_add(CHUNK);
                }
            });
        }
    });
    if found.load(Ordering::Acquire) {
        Some(result.load(Ordering::Acquire))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::PublicKey;

    #[test]
    fn live_genesis_work_value() {
        let root: Root = PublicKey::decode_hex(
            "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA",
        )
        .unwrap()
        .into();
        assert_eq!(work_value(&root, 0x62f05417dd3fb691), 0xfffffff4000d3dac);
    }

    #[test]
    fn multipliers_match_reference_ratios() {
        let t = WorkThresholds::LIVE;
        assert_eq!(to_multiplier(t.epoch_1, t.base), 0.125);
        assert_eq!(to_multiplier(t.epoch_2_receive, t.base), 1.0 / 64.0);
        assert_eq!(from_multiplier(1.0, t.base), t.base);
        assert_eq!(from_multiplier(8.0, t.epoch_1), t.base);
        assert_eq!(from_multiplier(0.125, t.base), t.epoch_1);
        assert_eq!(t.normalized_multiplier(8.0, t.epoch_1), 1.875);
        assert_eq!(t.denormalized_multiplier(1.875, t.epoch_1), 8.0);
    }

    #[test]
    fn threshold_selection() {
        let t = WorkThresholds::LIVE;
        assert_eq!(t.threshold(Epoch::Epoch0, false), t.epoch_1);
        assert_eq!(t.threshold(Epoch::Epoch1, true), t.epoch_1);
        assert_eq!(t.threshold(Epoch::Epoch2, false), t.epoch_2);
        assert_eq!(t.threshold(Epoch::Epoch2, true), t.epoch_2_receive);
    }

    #[test]
    fn search_range_agrees_with_scalar_hash() {
        let root = Root([3u8; 32]);
        // A low threshold is met by the first nonce whose value is high enough.
        let threshold = 0xf000000000000000;
        let n = search_range(&root, threshold, 1000, 100_000).unwrap();
        assert!(work_value(&root, n) >= threshold);
        for k in 1000..n {
            assert!(work_value(&root, k) < threshold);
        }
    }

    #[test]
    fn generate_and_cancel() {
        let root = Root([9u8; 32]);
        let never = AtomicBool::new(false);
        let w = generate(&root, WorkThresholds::DEV.entry, 2, &never).unwrap();
        assert!(work_value(&root, w) >= WorkThresholds::DEV.entry);
        let cancelled = AtomicBool::new(true);
        assert_eq!(generate(&root, u64::MAX, 2, &cancelled), None);
    }
}
