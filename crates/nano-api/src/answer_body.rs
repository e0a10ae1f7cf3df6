//! The HTTP body of an answer that keeps its place in an answer memory
//! ([`crate::answer_memory`]: the slow-action pool's [`crate::worker_pool::HeldAnswer`],
//! or `nano_rpc`'s count) until the last of its bytes has been taken by the connection.
//!
//! hyper takes a body frame only when its write buffer has room, so handing the answer
//! over in frames of [`FRAME`] bytes makes "taken" follow "written": while a client does
//! not read, the rest of its answer stays here and counts against its memory; the bytes
//! hyper has taken but not yet written are at most its buffer plus one frame. The length
//! is exact, so the answer keeps its `Content-Length` and the server still moves a large
//! answer's connection to the large-answer thread.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use nano_http::ArmedDeadline;

use crate::answer_memory::ClosedLate;

/// Bytes handed to the connection per frame: hyper's write buffer holds a few hundred KiB
/// before it stops taking frames, so a frame this size keeps the held count within about
/// half a MiB of what is still unwritten, at one frame per 256 KiB.
pub const FRAME: usize = 256 * 1024;

/// An answer handed over in [`FRAME`]-byte frames, holding `held` (whose drop gives the
/// answer's bytes back) and `armed` (the connection's deadline for it) until the last
/// frame is taken, or the body is dropped with its connection: then, if the deadline had
/// passed (the server closed the connection for it), `held` learns it was closed late.
pub struct HeldBody<G: ClosedLate> {
    rest: Bytes,
    held: Option<G>,
    armed: Option<ArmedDeadline>,
}

impl<G: ClosedLate> HeldBody<G> {
    pub fn new(text: Vec<u8>, held: G, armed: Option<ArmedDeadline>) -> HeldBody<G> {
        HeldBody {
            rest: Bytes::from(text),
            held: Some(held),
            armed,
        }
    }

    /// The whole answer is with the connection: the hold and the deadline end.
    fn taken(&mut self) {
        self.held = None;
        self.armed = None;
    }
}

impl<G: ClosedLate> Drop for HeldBody<G> {
    fn drop(&mut self) {
        if let (Some(held), Some(armed)) = (&mut self.held, &self.armed) {
            if armed.passed() {
                held.closed_late();
            }
        }
    }
}

// No field is pinned: `rest`, `held` and `armed` are moved and dropped freely.
impl<G: ClosedLate> Unpin for HeldBody<G> {}

impl<G: ClosedLate> Body for HeldBody<G> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.rest.is_empty() {
            self.taken();
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(FRAME);
        let frame = self.rest.split_to(n);
        if let Some(held) = &mut self.held {
            held.took(n);
        }
        if self.rest.is_empty() {
            self.taken();
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}
