//! One client connection: its reader (which applies the client's requests), its writer
//! (which batches frames and detects a stalled client) and the replay of missed
//! confirmations from the log. The connection's queue handle lives in [`super::hub`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::hub::{Session, Shared, KILL_CLOSE, KILL_SHUTDOWN, RUNNING};
use super::messages::{
    ack_message, confirmation_message, error_message, history_error_message, now_ms, Confirmed,
};
use super::topics::{opt_bool, ConfirmationOptions, Resume, Subscriptions, Topic};
use nano_node::confirmation_history::HistoryError;

impl Shared {
    /// Applies one client frame; returns the reply (ack or error) to queue, if any, and
    /// whether a replay from the confirmation log must start after it.
    pub(super) fn handle_request(
        &self,
        session: &Session,
        frame: &[u8],
    ) -> (Option<Utf8Bytes>, bool) {
        match self.apply_request(session, frame) {
            Ok((reply, replay)) => (reply, replay),
            Err(reply) => (Some(reply), false),
        }
    }

    /// `from_sequence` of a confirmation subscription: where to resume, after checking
    /// that the history still reaches back that far.
    fn resume_point(&self, options: Option<&Value>) -> Result<Option<Resume>, Utf8Bytes> {
        let from = ConfirmationOptions::from_sequence(options).map_err(|e| error_message(&e))?;
        let Some(from) = from else { return Ok(None) };
        let Some(history) = &self.settings.history else {
            return Err(error_message(
                "from_sequence is not available: this server has no confirmation history",
            ));
        };
        let oldest = history
            .oldest()
            .map_err(|e| error_message(&e.to_string()))?;
        let from = from.max(1);
        if from < oldest {
            let e = HistoryError::TooOld {
                requested: from,
                oldest,
            };
            return Err(history_error_message(&e));
        }
        Ok(Some(Resume {
            next: from,
            replaying: true,
        }))
    }

    fn apply_request(
        &self,
        session: &Session,
        frame: &[u8],
    ) -> Result<(Option<Utf8Bytes>, bool), Utf8Bytes> {
        let v: Value = match serde_json::from_slice(frame) {
            Ok(v) => v,
            Err(e) => {
                self.counters.invalid_json.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(session = session.id, "websocket: invalid JSON: {e}");
                return Err(error_message("Unable to parse JSON"));
            }
        };
        let Some(obj) = v.as_object() else {
            return Ok((None, false));
        };
        let Some(action) = obj.get("action").and_then(Value::as_str) else {
            return Ok((None, false));
        };
        let ack = opt_bool(obj.get("ack")).unwrap_or(false);
        let id = match obj.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let topic = obj
            .get("topic")
            .and_then(Value::as_str)
            .and_then(Topic::parse);
        let options = obj.get("options");
        let resume = match (action, topic) {
            ("subscribe", Some(Topic::Confirmation)) => self.resume_point(options)?,
            _ => None,
        };
        let succeeded = {
            let mut subs = session.subs.lock().unwrap_or_else(|e| e.into_inner());
            match (action, topic) {
                ("ping", _) => return Ok((Some(ack_message("pong", id)), false)),
                ("subscribe", Some(t)) => {
                    subs.subscribe(t, options);
                    if let Some(c) = subs.confirmation.as_mut().filter(|_| resume.is_some()) {
                        c.resume = resume;
                    }
                    true
                }
                ("unsubscribe", Some(t)) => {
                    subs.unsubscribe(t);
                    true
                }
                ("update", Some(Topic::Confirmation)) => match (&mut subs.confirmation, options) {
                    (Some(c), Some(o)) => {
                        c.update(o);
                        true
                    }
                    _ => false,
                },
                _ => false,
            }
        };
        Ok((
            (succeeded && ack).then(|| ack_message(action, id)),
            succeeded && resume.is_some(),
        ))
    }
}

pub(super) async fn run_session(shared: Arc<Shared>, socket: WebSocket) {
    if shared.shutting_down.load(Ordering::SeqCst) {
        return;
    }
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel(shared.settings.queue_capacity.max(1));
    let (kill, kill_rx) = watch::channel(RUNNING);
    let session = Arc::new(Session {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        tx,
        subs: Mutex::new(Subscriptions::default()),
        is_full: AtomicBool::new(false),
        full_since: Mutex::new(None),
        kill,
    });
    shared
        .sessions
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(session.clone());
    shared
        .counters
        .sessions_opened
        .fetch_add(1, Ordering::Relaxed);
    let writer = tokio::spawn(write_loop(
        shared.clone(),
        session.clone(),
        sink,
        rx,
        kill_rx.clone(),
        shared.settings.stall_timeout,
    ));
    read_loop(&shared, &session, stream, kill_rx).await;
    session.stop(KILL_CLOSE);
    let _ = writer.await;
    shared.remove(session.id);
}

async fn read_loop(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    mut stream: SplitStream<WebSocket>,
    mut kill: watch::Receiver<u8>,
) {
    loop {
        let frame = tokio::select! {
            _ = kill.wait_for(|v| *v != RUNNING) => return,
            f = stream.next() => f,
        };
        let (reply, start_replay) = match frame {
            Some(Ok(Message::Text(t))) => shared.handle_request(session, t.as_bytes()),
            Some(Ok(Message::Binary(b))) => shared.handle_request(session, &b),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
            Some(Ok(_)) => (None, false),
        };
        if let Some(reply) = reply {
            // Waiting here only holds up this client's own requests.
            tokio::select! {
                _ = kill.wait_for(|v| *v != RUNNING) => return,
                r = session.tx.send(reply) => {
                    if r.is_err() {
                        return;
                    }
                    shared.counters.messages_queued.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // After the ack, so the client sees the ack before the replayed confirmations.
        if start_replay {
            tokio::spawn(replay(shared.clone(), session.clone()));
        }
    }
}

/// Rows replayed per step: one reservation of queue slots, one read of the log.
const REPLAY_BATCH: usize = 256;

/// Feeds a resuming session from the confirmation log until it has caught up with the
/// head, then hands it to the dispatcher. Each step reserves queue slots first (waiting
/// for a slow client only holds up this task), then, under the session lock so the
/// dispatcher cannot interleave, reads the next rows, queues those that pass the
/// subscription's filters and advances the session's next sequence; the step that
/// reaches the head clears `replaying` under the same lock, so the first live
/// confirmation the dispatcher delivers is exactly the next one.
pub(super) async fn replay(shared: Arc<Shared>, session: Arc<Session>) {
    let Some(history) = shared.settings.history.clone() else {
        return;
    };
    let batch = REPLAY_BATCH.min(shared.settings.queue_capacity.max(1));
    let mut kill = session.kill.subscribe();
    // Bounded by the session: each step either advances or returns.
    loop {
        let permits = tokio::select! {
            _ = kill.wait_for(|v| *v != RUNNING) => return,
            p = session.tx.reserve_many(batch) => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let mut subs = session.subs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(o) = subs.confirmation.as_mut() else {
            return;
        };
        let Some(r) = o.resume.filter(|r| r.replaying) else {
            return;
        };
        let page = match history.read_page(r.next, batch) {
            Ok(p) => p,
            Err(e) => {
                // Trimmed while this client was behind: it cannot get a gapless stream.
                subs.confirmation = None;
                drop(subs);
                drop(permits);
                tracing::info!(session = session.id, "websocket: replay ended: {e}");
                let _ = session.tx.try_send(history_error_message(&e));
                return;
            }
        };
        let time = now_ms();
        let mut local = None;
        let mut permits = permits;
        let mut queued = 0;
        // election_info where it is still known (from the live stream).
        let known: Vec<Option<Value>> = if o.election_info > 0 {
            let e = shared.elections.lock().unwrap_or_else(|e| e.into_inner());
            page.events
                .iter()
                .map(|ev| Confirmed::of(ev)?.sequence.and_then(|s| e.get(s).cloned()))
                .collect()
        } else {
            Vec::new()
        };
        for (i, event) in page.events.iter().enumerate() {
            let Some(mut c) = Confirmed::of(event) else {
                continue;
            };
            if c.election.is_none() {
                c.election = known.get(i).and_then(Option::as_ref);
            }
            if !shared.confirmation_passes(o, &c, c.link_as().as_ref(), &mut local) {
                continue;
            }
            if let Some(p) = permits.next() {
                p.send(confirmation_message(&c, o, &time));
                queued += 1;
            }
        }
        if let Some(r) = o.resume.as_mut() {
            r.next = page.next;
            r.replaying = !page.complete;
        }
        drop(subs);
        shared
            .counters
            .messages_queued
            .fetch_add(queued, Ordering::Relaxed);
        if page.complete {
            return;
        }
    }
}

/// Most messages written before one flush.
pub(super) const WRITE_BATCH: usize = 256;

async fn write_loop(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Utf8Bytes>,
    mut kill: watch::Receiver<u8>,
    stall: Duration,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = kill.wait_for(|v| *v != RUNNING) => break,
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
        };
        let batch = async {
            sink.feed(Message::Text(first)).await?;
            for _ in 0..WRITE_BATCH {
                match rx.try_recv() {
                    Ok(m) => sink.feed(Message::Text(m)).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await
        };
        let outcome = tokio::select! {
            _ = kill.wait_for(|v| *v != RUNNING) => None,
            r = tokio::time::timeout(stall, batch) => Some(r),
        };
        match outcome {
            None | Some(Ok(Err(_))) => break,
            Some(Ok(Ok(()))) => {}
            Some(Err(_)) => {
                shared.stall(&session);
                break;
            }
        }
    }
    if *kill.borrow() == KILL_SHUTDOWN {
        let close = Message::Close(Some(CloseFrame {
            code: 1000,
            reason: Utf8Bytes::from_static("Shutting down"),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
    }
    session.stop(KILL_CLOSE);
}
