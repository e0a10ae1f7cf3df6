//! The time by which a connection must have taken an answer, past which the server
//! closes it.
//!
//! A handler that keeps an answer in memory until its connection has taken it (the RPC's
//! slow-action answers, counted against a memory limit) lets a client that asks and then
//! reads a byte now and then hold that memory for as long as the idle timeout lets it,
//! which any byte moved renews. Such a handler arms the connection's [`AnswerDeadline`]
//! (a request extension the server adds) when it hands the answer over, and disarms it
//! (by dropping the [`ArmedDeadline`]) once the last byte has been taken; the server
//! closes a connection whose deadline passes while it is still armed, dropping the
//! unwritten rest of the answer with it.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

/// The armed deadline of one connection, if any. `id` tells a later arming from the one a
/// late-dropped guard belongs to.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    id: u64,
    by: Option<Instant>,
}

/// Request extension: the deadline of the answer to this request's connection.
#[derive(Clone, Debug)]
pub struct AnswerDeadline(Arc<watch::Sender<Slot>>);

/// An armed deadline; dropping it disarms it (the answer has been taken, or given up).
#[derive(Debug)]
pub struct ArmedDeadline {
    slot: Arc<watch::Sender<Slot>>,
    id: u64,
}

/// A handle that brings an armed deadline forward to now: whoever holds it (the
/// slow-action pool, short of memory) can have the server close that connection at once.
#[derive(Clone, Debug)]
pub struct Closer {
    slot: Arc<watch::Sender<Slot>>,
    id: u64,
}

impl Closer {
    /// Closes the connection now, if the answer it was given for is still not taken.
    pub fn close_now(&self) {
        let now = Instant::now();
        self.slot.send_if_modified(|s| {
            let mine = s.id == self.id && s.by.is_some();
            if mine {
                s.by = Some(now);
            }
            mine
        });
    }
}

impl AnswerDeadline {
    /// A connection's deadline, and the receiver its server watches.
    pub(crate) fn new() -> (AnswerDeadline, watch::Receiver<Slot>) {
        let (tx, rx) = watch::channel(Slot::default());
        (AnswerDeadline(Arc::new(tx)), rx)
    }

    /// A deadline no server watches: arming and closing it act on nothing (tests, and
    /// callers without a connection).
    pub fn unwatched() -> AnswerDeadline {
        AnswerDeadline::new().0
    }

    /// Closes the connection at `by` unless the guard is dropped before.
    pub fn arm(&self, by: Instant) -> ArmedDeadline {
        let mut id = 0;
        self.0.send_modify(|s| {
            s.id += 1;
            s.by = Some(by);
            id = s.id;
        });
        ArmedDeadline {
            slot: self.0.clone(),
            id,
        }
    }
}

impl ArmedDeadline {
    /// Whether its time has come (or was brought forward by a [`Closer`]): a handler
    /// dropping its answer with the connection can tell a close for lateness from the
    /// client going away.
    pub fn passed(&self) -> bool {
        let s = *self.slot.borrow();
        s.id == self.id && s.by.is_some_and(|by| Instant::now() >= by)
    }

    /// A handle that closes the connection now while this is armed.
    pub fn closer(&self) -> Closer {
        Closer {
            slot: self.slot.clone(),
            id: self.id,
        }
    }
}

impl Drop for ArmedDeadline {
    fn drop(&mut self) {
        self.slot.send_if_modified(|s| {
            let mine = s.id == self.id && s.by.is_some();
            if mine {
                s.by = None;
            }
            mine
        });
    }
}

/// Resolves when an armed deadline passes while still armed; never while none is.
pub(crate) async fn passed(rx: &mut watch::Receiver<Slot>) {
    loop {
        let by = rx.borrow_and_update().by;
        let changed = async {
            if rx.changed().await.is_err() {
                // The connection's service is gone; nothing can arm it any more.
                std::future::pending::<()>().await;
            }
        };
        match by {
            None => changed.await,
            Some(by) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(by) => return,
                    _ = changed => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn an_armed_deadline_passes_and_a_disarmed_one_does_not() {
        let (d, mut rx) = AnswerDeadline::new();
        let start = Instant::now();
        // Armed then disarmed: nothing passes, however long.
        let guard = d.arm(start + Duration::from_secs(1));
        assert!(!guard.passed());
        drop(guard);
        let waited = tokio::time::timeout(Duration::from_secs(5), passed(&mut rx)).await;
        assert!(waited.is_err(), "a disarmed deadline must not pass");
        // Armed and kept: passes at its time.
        let at = Instant::now() + Duration::from_secs(2);
        let guard = d.arm(at);
        passed(&mut rx).await;
        assert_eq!(Instant::now(), at);
        assert!(guard.passed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closer_brings_its_own_deadline_forward_and_no_other() {
        let (d, mut rx) = AnswerDeadline::new();
        let first = d.arm(Instant::now() + Duration::from_secs(100));
        let stale = first.closer();
        drop(first);
        let second = d.arm(Instant::now() + Duration::from_secs(100));
        // The first answer's closer no longer reaches the connection.
        stale.close_now();
        let waited = tokio::time::timeout(Duration::from_secs(5), passed(&mut rx)).await;
        assert!(waited.is_err() && !second.passed());
        // The second's does, at once.
        let start = Instant::now();
        second.closer().close_now();
        passed(&mut rx).await;
        assert_eq!(Instant::now(), start);
        assert!(second.passed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_guard_does_not_disarm_the_next_answer() {
        let (d, mut rx) = AnswerDeadline::new();
        let first = d.arm(Instant::now() + Duration::from_secs(10));
        let at = Instant::now() + Duration::from_secs(3);
        let _second = d.arm(at);
        // The first answer's guard dropped after the second was armed.
        drop(first);
        passed(&mut rx).await;
        assert_eq!(Instant::now(), at);
    }
}
