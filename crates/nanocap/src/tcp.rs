//! TCP reassembly for one direction of one connection: turns segments in capture order
//! (with retransmissions, overlaps and reordering) into an ordered byte stream with explicit
//! gaps. Sequence numbers are widened to 64-bit stream offsets so wrap-around is harmless.
//! Flow tables and what the bytes mean belong to the analyzer, not here.

use std::collections::BTreeMap;

/// Bytes of out-of-order data kept per direction before the hole is declared lost.
pub const MAX_OUT_OF_ORDER: usize = 4 << 20;

/// One piece of in-order output.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Contiguous bytes following everything delivered so far.
    Data(&'a [u8]),
    /// Buffered bytes that became contiguous.
    Owned(Vec<u8>),
    /// This many bytes were never seen (capture loss); the consumer must resynchronise.
    Gap(u64),
}

/// What one segment released.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub chunks: Vec<Chunk<'a>>,
    /// The sender's FIN has been reached in order: the direction is finished.
    pub finished: bool,
}

/// Reassembly state of one direction.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of the next byte expected, once known.
    next_seq: Option<u32>,
    /// Stream offset of `next_seq`.
    next_off: u64,
    /// Out-of-order segments by stream offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_off: Option<u64>,
    finished: bool,
    /// The stream was picked up without its SYN: the first bytes may be mid-message.
    pub midstream: bool,
    /// Segments that carried only already-delivered bytes.
    pub retransmissions: u64,
}

impl Stream {
    /// Whether the sender's FIN has been delivered.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bytes delivered so far.
    pub fn offset(&self) -> u64 {
        self.next_off
    }

    /// Out-of-order bytes held, waiting for a hole to fill (at most [`MAX_OUT_OF_ORDER`]).
    pub fn buffered(&self) -> usize {
        self.pending_bytes
    }

    fn offset_of(&self, seq: u32) -> i128 {
        let next = self.next_seq.unwrap_or(seq);
        let delta = seq.wrapping_sub(next) as i32;
        i128::from(self.next_off) + i128::from(delta)
    }

    /// Feeds one segment. `syn` segments set the initial sequence number; data before the
    /// first SYN or data segment of the stream is treated as the start (midstream pickup).
    pub fn push<'a>(&mut self, seq: u32, syn: bool, fin: bool, payload: &'a [u8]) -> Delivery<'a> {
        let mut out = Delivery::default();
        if self.finished {
            if !payload.is_empty() {
                self.retransmissions += 1;
            }
            return out;
        }
        let data_seq = if syn {
            if self.next_seq.is_none() {
                self.next_seq = Some(seq.wrapping_add(1));
            }
            seq.wrapping_add(1)
        } else {
            if self.next_seq.is_none() {
                if payload.is_empty() && !fin {
                    return out;
                }
                self.next_seq = Some(seq);
                self.midstream = true;
            }
            seq
        };
        let start = self.offset_of(data_seq);
        if fin {
            let end = start + payload.len() as i128;
            if end >= i128::from(self.next_off) {
                self.fin_off = Some(end as u64);
            }
        }
        self.accept(start, payload, &mut out);
        self.check_fin(&mut out);
        out
    }

    fn accept<'a>(&mut self, start: i128, payload: &'a [u8], out: &mut Delivery<'a>) {
        if payload.is_empty() {
            return;
        }
        let next = i128::from(self.next_off);
        let end = start + payload.len() as i128;
        if end <= next {
            self.retransmissions += 1;
            return;
        }
        if start <= next {
            let skip = (next - start) as usize;
            let fresh = &payload[skip..];
            self.advance(fresh.len());
            out.chunks.push(Chunk::Data(fresh));
            self.drain(out);
        } else {
            let off = start as u64;
            let keep = match self.pending.get(&off) {
                Some(existing) => existing.len() < payload.len(),
                None => true,
            };
            if keep {
                if let Some(old) = self.pending.insert(off, payload.to_vec()) {
                    self.pending_bytes -= old.len();
                }
                self.pending_bytes += payload.len();
            } else {
                self.retransmissions += 1;
            }
            if self.pending_bytes > MAX_OUT_OF_ORDER {
                self.skip_hole(out);
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.next_off += n as u64;
        if let Some(s) = self.next_seq {
            self.next_seq = Some(s.wrapping_add(n as u32));
        }
    }

    /// Releases buffered segments that are now contiguous.
    fn drain<'a>(&mut self, out: &mut Delivery<'a>) {
        while let Some((&off, _)) = self.pending.first_key_value() {
            if off > self.next_off {
                break;
            }
            let Some((_, data)) = self.pending.pop_first() else {
                break;
            };
            self.pending_bytes -= data.len();
            let end = off + data.len() as u64;
            if end <= self.next_off {
                self.retransmissions += 1;
                continue;
            }
            let skip = (self.next_off - off) as usize;
            let fresh = if skip == 0 {
                data
            } else {
                data[skip..].to_vec()
            };
            self.advance(fresh.len());
            out.chunks.push(Chunk::Owned(fresh));
        }
    }

    /// Declares the first hole lost and continues after it.
    fn skip_hole<'a>(&mut self, out: &mut Delivery<'a>) {
        if let Some((&off, _)) = self.pending.first_key_value() {
            if off > self.next_off {
                let missing = off - self.next_off;
                out.chunks.push(Chunk::Gap(missing));
                self.advance(missing as usize);
            }
            self.drain(out);
        }
    }

    fn check_fin(&mut self, out: &mut Delivery<'_>) {
        if let Some(f) = self.fin_off {
            if self.next_off >= f && !self.finished {
                self.finished = true;
                out.finished = true;
            }
        }
    }

    /// The receiver acknowledged this direction up to `ack`: a hole before bytes already
    /// held, all of it acknowledged, was delivered to the receiver and will not be sent
    /// again, so it is declared lost now instead of once [`MAX_OUT_OF_ORDER`] bytes wait
    /// behind it (which a quiet direction may take minutes to reach, its messages held
    /// meanwhile). A hole is declared only when bytes after it are held: a capture that
    /// shows an acknowledgement just before the data it covers (directions reordered by a
    /// mirror port) then still gets that data.
    pub fn acked(&mut self, ack: u32) -> Delivery<'static> {
        let mut out = Delivery::default();
        if self.next_seq.is_none() || self.finished {
            return out;
        }
        let acked = self.offset_of(ack);
        while let Some((&off, _)) = self.pending.first_key_value() {
            if i128::from(off) > acked {
                break;
            }
            self.skip_hole(&mut out);
        }
        self.check_fin(&mut out);
        out
    }

    /// End of input (capture over or connection reset): releases every buffered byte,
    /// with gaps for the holes.
    pub fn flush(&mut self) -> Delivery<'static> {
        let mut out = Delivery::default();
        while !self.pending.is_empty() {
            self.skip_hole(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(d: &Delivery<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        for c in &d.chunks {
            match c {
                Chunk::Data(b) => v.extend_from_slice(b),
                Chunk::Owned(b) => v.extend_from_slice(b),
                Chunk::Gap(n) => v.extend(std::iter::repeat_n(b'?', *n as usize)),
            }
        }
        v
    }

    #[test]
    fn in_order_retransmit_and_reorder() {
        let mut s = Stream::default();
        assert!(collect(&s.push(u32::MAX - 1, true, false, b"")).is_empty());
        // ISN + 1 wraps to 0.
        assert_eq!(collect(&s.push(u32::MAX, false, false, b"ab")), b"ab");
        assert_eq!(collect(&s.push(u32::MAX, false, false, b"ab")), b"");
        assert_eq!(s.retransmissions, 1);
        assert_eq!(collect(&s.push(3, false, false, b"ef")), b"");
        assert_eq!(collect(&s.push(1, false, false, b"cdef")), b"cdef");
        let d = s.push(5, false, true, b"g");
        assert_eq!(collect(&d), b"g");
        assert!(d.finished);
        assert_eq!(s.offset(), 7);
    }

    #[test]
    fn overlap_is_trimmed_and_holes_flush_as_gaps() {
        let mut s = Stream::default();
        assert_eq!(collect(&s.push(100, false, false, b"abc")), b"abc");
        assert!(s.midstream);
        assert_eq!(collect(&s.push(101, false, false, b"bcd")), b"d");
        assert_eq!(collect(&s.push(110, false, false, b"xyz")), b"");
        assert_eq!(collect(&s.flush()), b"??????xyz");
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn a_hole_the_receiver_acknowledged_is_declared_lost_at_once() {
        let mut s = Stream::default();
        s.push(1000, true, false, b"");
        assert_eq!(collect(&s.push(1001, false, false, b"abcd")), b"abcd");
        // "efgh" (1005..1009) is never captured; "ijkl" waits behind the hole.
        assert!(s.push(1009, false, false, b"ijkl").chunks.is_empty());
        assert_eq!(s.buffered(), 4);
        // Acknowledged only part of the hole: it may still come.
        assert!(s.acked(1005).chunks.is_empty());
        assert!(s.acked(1008).chunks.is_empty());
        // The receiver has every byte before the held ones: the hole is lost.
        let d = s.acked(1009);
        assert_eq!(d.chunks[0], Chunk::Gap(4));
        assert_eq!(d.chunks[1], Chunk::Owned(b"ijkl".to_vec()));
        assert_eq!(s.buffered(), 0);
        assert_eq!(s.offset(), 12);
        // Nothing held: an acknowledgement alone declares nothing.
        assert!(s.acked(2000).chunks.is_empty());
        assert_eq!(collect(&s.push(1013, false, false, b"mnop")), b"mnop");
    }

    #[test]
    fn out_of_order_bytes_are_counted_and_capped() {
        let mut s = Stream::default();
        s.push(0, false, false, b"a");
        s.push(10, false, false, &[7u8; 100]);
        assert_eq!(s.buffered(), 100);
        // Far ahead of a hole that never fills: the buffer never exceeds its cap.
        let seg = vec![1u8; 64 * 1024];
        for i in 0..100u32 {
            s.push(1_000 + i * 65_536, false, false, &seg);
            assert!(s.buffered() <= MAX_OUT_OF_ORDER);
        }
    }
}
