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

/// Bytes handed to the connection per frame: hyper's write buffer holds a few hundred KiB
/// before it stops taking frames, so a frame this size keeps the held count within about
/// half a MiB of what is still unwritten, at one frame per 256 KiB.
pub const FRAME: usize = 256 * 1024;

/// An answer handed over in [`FRAME`]-byte frames, holding `held` (whose drop gives the
/// answer's bytes back) until the last frame is taken (or the body is dropped with its
/// connection).
pub struct HeldBody<G> {
    rest: Bytes,
    held: Option<G>,
}

impl<G> HeldBody<G> {
    pub fn new(text: Vec<u8>, held: G) -> HeldBody<G> {
        HeldBody {
            rest: Bytes::from(text),
            held: Some(held),
        }
    }
}

// No field is pinned: `rest` and `held` are moved and dropped freely.
impl<G> Unpin for HeldBody<G> {}

impl<G> Body for HeldBody<G> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.rest.is_empty() {
            self.held = None;
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(FRAME);
        let frame = self.rest.split_to(n);
        if self.rest.is_empty() {
            // The whole answer is with the connection now.
            self.held = None;
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
