//! IPC 2.0 / RPC 2.0: message envelopes (`{time, credentials, correlation_id,
//! message_type, message}`) in JSON (IPC encoding 4, `/api/v2`) and FlatBuffers (IPC
//! encoding 3), the handlers for every request message of the schema, the permission each
//! one needs, and the broker that delivers subscribed events (`EventServiceStop`,
//! `EventConfirmation`) to IPC sessions.
//!
//! Answers always come in an envelope; failures are an `Error` message with the reference
//! codes (1 generic, 3 access denied, 7 bad account number) and a text naming the problem.

pub mod fb;
pub mod flatc_errors;
pub mod flatc_syntax;
pub mod http;
pub mod scalars;
pub mod schema;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::access::{AccessControl, Permission};
use crate::context::ApiContext;

/// Reference error codes (`nano::error_common`).
pub const CODE_GENERIC: i32 = 1;
pub const CODE_ACCESS_DENIED: i32 = 3;
pub const CODE_BAD_ACCOUNT: i32 = 7;

/// A failure answered as an `Error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Error {
    pub code: i32,
    pub message: String,
}

impl V2Error {
    pub fn new(code: i32, message: impl Into<String>) -> V2Error {
        V2Error {
            code,
            message: message.into(),
        }
    }
    fn format(e: String) -> V2Error {
        V2Error::new(CODE_GENERIC, format!("Invalid message format: {e}"))
    }
}

/// What the reference answers for a JSON envelope that is valid JSON but not an object
/// (`[]`, `"x"`, `1`, `null`), or empty: it reads the text with FlatBuffers' schema parser,
/// which takes whatever does not start with `{` for a schema declaration and names the line
/// and the column just past the first token (`1: 1: error: declaration expected` for
/// `[]`), or finds no token at all (`input file is empty`). `None` for an object.
pub fn not_an_envelope(body: &[u8]) -> Option<String> {
    let (mut line, mut line_start, mut at) = (1usize, 0usize, 0usize);
    while let Some(&c) = body.get(at) {
        match c {
            b'\n' => {
                line += 1;
                line_start = at + 1;
            }
            b' ' | b'\r' | b'\t' => {}
            _ => break,
        }
        at += 1;
    }
    let end = match body.get(at) {
        None => {
            return Some(format!(
                "{line}: {}: error: input file is empty",
                at - line_start
            ))
        }
        Some(b'{') => return None,
        Some(b'[') => at + 1,
        Some(b'"') => {
            // To the closing quote; an escape's next character never closes the string.
            let mut i = at + 1;
            while i < body.len() && body[i] != b'"' {
                i += if body[i] == b'\\' { 2 } else { 1 };
            }
            (i + 1).min(body.len())
        }
        // A number or true/false/null: one token up to the whitespace after it.
        Some(_) => body[at..]
            .iter()
            .position(|c| matches!(c, b' ' | b'\r' | b'\t' | b'\n'))
            .map_or(body.len(), |n| at + n),
    };
    Some(format!(
        "{line}: {}: error: declaration expected",
        end - line_start
    ))
}

/// The refusal of an envelope text that is not JSON: the reference's for an empty body or
/// for the first token its parser cannot take ([`flatc_syntax`]), else this node's text
/// with the JSON error.
pub(crate) fn unparsable_envelope(body: &[u8], e: &serde_json::Error) -> V2Error {
    match not_an_envelope(body) {
        Some(t) if body.iter().all(u8::is_ascii_whitespace) => V2Error::format(t),
        _ => flatc_syntax::syntax_refusal(body)
            .unwrap_or_else(|| V2Error::format(format!("not valid JSON: {e}"))),
    }
}

/// A refused JSON envelope's answer: the reference parser's refusals in its hand-written
/// shape ([`flatc_errors::parser_answer`]), the rest as an `Error` envelope.
pub fn error_json(e: &V2Error, corr: Option<String>) -> Vec<u8> {
    flatc_errors::parser_answer(e).unwrap_or_else(|| Response::error(e, corr).to_json())
}

/// A checked request envelope.
#[derive(Debug, Clone)]
pub struct Request {
    /// Empty when absent: the default user.
    pub credentials: String,
    pub correlation_id: Option<String>,
    pub message_type: &'static str,
    /// The message in canonical form (see [`schema::normalize`]).
    pub message: Map<String, Value>,
}

impl Request {
    /// From a canonical envelope object (both encodings end up here).
    fn from_canonical(mut env: Map<String, Value>) -> Result<Request, V2Error> {
        let message_type = env
            .get("message_type")
            .and_then(Value::as_str)
            .and_then(schema::message_def)
            .map(|d| d.name)
            .ok_or_else(|| {
                V2Error::format("required field 'message_type' is missing in Envelope".into())
            })?;
        let message = match env.remove("message") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Ok(Request {
            credentials: env
                .get("credentials")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            correlation_id: env
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            message_type,
            message,
        })
    }

    /// Parses a JSON envelope (IPC encoding 4 / `/api/v2`). On failure the correlation id,
    /// if one could be read, comes back with the error so the answer still carries it.
    pub fn from_json(body: &[u8]) -> Result<Request, (V2Error, Option<String>)> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| (unparsable_envelope(body, &e), None))?;
        if !v.is_object() {
            let text = not_an_envelope(body).unwrap_or_default();
            return Err((V2Error::format(text), None));
        }
        // The reference's parser refusals answer without a correlation id.
        if let Some(e) = flatc_errors::refusal(body, &v) {
            return Err((e, None));
        }
        Self::from_json_value(&v)
    }

    pub fn from_json_value(v: &Value) -> Result<Request, (V2Error, Option<String>)> {
        let corr = v
            .get("correlation_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if v.get("message_type").is_none_or(Value::is_null) {
            return Err((
                V2Error::format("required field 'message_type' is missing in Envelope".into()),
                corr,
            ));
        }
        let env = schema::normalize(&schema::ENVELOPE, v)
            .map_err(|e| (V2Error::format(e), corr.clone()))?;
        Self::from_canonical(env).map_err(|e| (e, corr))
    }

    /// Verifies and reads a FlatBuffers envelope (IPC encoding 3).
    pub fn from_flatbuffer(buf: &[u8]) -> Result<Request, (V2Error, Option<String>)> {
        let env = fb::decode_envelope(buf).map_err(|e| (V2Error::new(CODE_GENERIC, e), None))?;
        let corr = env
            .get("correlation_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if env.get("message_type").is_none() {
            return Err((V2Error::new(CODE_GENERIC, "Invalid message"), corr));
        }
        Self::from_canonical(env).map_err(|e| (e, corr))
    }

    /// The canonical envelope, for forwarding or encoding a request.
    pub fn to_canonical(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if !self.credentials.is_empty() {
            m.insert("credentials".into(), self.credentials.clone().into());
        }
        if let Some(c) = &self.correlation_id {
            m.insert("correlation_id".into(), c.clone().into());
        }
        m.insert("message_type".into(), self.message_type.into());
        m.insert("message".into(), Value::Object(self.message.clone()));
        m
    }
}

/// An answer or event envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub time: u64,
    pub correlation_id: Option<String>,
    pub message_type: &'static str,
    pub message: Map<String, Value>,
}

/// Room for an `AccountWeightResponse` envelope without a correlation id (at most 20
/// digits of time, 39 of weight and 79 bytes of fixed text), so the buffer never grows.
const ACCOUNT_WEIGHT_ANSWER_ROOM: usize = 160;

/// The `AccountWeightResponse` envelope's JSON text, written piece by piece: the bytes of
/// [`Response::to_json`] for the same time, correlation id and weight (the members in its
/// order, both strings escaped by serde_json as there), without a message map and a
/// serializer growing its buffer from empty.
fn account_weight_answer(time: u64, correlation_id: Option<&str>, weight: &str) -> Vec<u8> {
    let room = ACCOUNT_WEIGHT_ANSWER_ROOM + correlation_id.map_or(0, |c| 2 * c.len() + 20);
    let mut out = Vec::with_capacity(room);
    out.extend_from_slice(b"{\"time\":");
    // Writing a number or a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &time);
    if let Some(c) = correlation_id {
        out.extend_from_slice(b",\"correlation_id\":");
        let _ = serde_json::to_writer(&mut out, c);
    }
    out.extend_from_slice(
        b",\"message_type\":\"AccountWeightResponse\",\"message\":{\"voting_weight\":",
    );
    let _ = serde_json::to_writer(&mut out, weight);
    out.extend_from_slice(b"}}");
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Response {
    pub fn new(
        message_type: &'static str,
        message: Value,
        correlation_id: Option<String>,
    ) -> Response {
        Response {
            time: now_ms(),
            correlation_id,
            message_type,
            message: match message {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }

    pub fn error(e: &V2Error, correlation_id: Option<String>) -> Response {
        Response::new(
            "Error",
            json!({"code": e.code, "message": e.message}),
            correlation_id,
        )
    }

    /// The envelope as `flatc` prints it: time, correlation_id, message_type, message.
    pub fn to_canonical(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("time".into(), self.time.into());
        if let Some(c) = &self.correlation_id {
            m.insert("correlation_id".into(), c.clone().into());
        }
        m.insert("message_type".into(), self.message_type.into());
        m.insert("message".into(), Value::Object(self.message.clone()));
        m
    }

    /// The envelope as JSON text, in [`Self::to_canonical`]'s order, written from the
    /// answer itself (no copy of the message is made for it).
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            time: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            correlation_id: Option<&'a str>,
            message_type: &'a str,
            message: &'a Map<String, Value>,
        }
        serde_json::to_vec(&Envelope {
            time: self.time,
            correlation_id: self.correlation_id.as_deref(),
            message_type: self.message_type,
            message: &self.message,
        })
        .unwrap_or_default()
    }

    pub fn to_flatbuffer(&self) -> Vec<u8> {
        fb::encode_envelope(&self.to_canonical())
    }

    /// Reads a JSON answer (used by clients and tests).
    pub fn from_json(body: &[u8]) -> Option<Response> {
        let v: Value = serde_json::from_slice(body).ok()?;
        Self::from_canonical(schema::normalize(&schema::ENVELOPE, &v).ok()?)
    }

    /// Reads a FlatBuffers answer (used by clients and tests).
    pub fn from_flatbuffer(buf: &[u8]) -> Option<Response> {
        Self::from_canonical(fb::decode_envelope(buf).ok()?)
    }

    fn from_canonical(mut m: Map<String, Value>) -> Option<Response> {
        let message_type = schema::message_def(m.get("message_type")?.as_str()?)?.name;
        Some(Response {
            time: m.get("time").and_then(Value::as_u64).unwrap_or(0),
            correlation_id: m
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            message_type,
            message: match m.remove("message") {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            },
        })
    }
}

/// Builds an encoding-3 request buffer (for clients and tests).
pub fn flatbuffer_request(
    message_type: &str,
    message: Value,
    credentials: Option<&str>,
    correlation_id: Option<&str>,
) -> Result<Vec<u8>, V2Error> {
    let mut env = json!({"message_type": message_type, "message": message});
    if let Some(c) = credentials {
        env["credentials"] = c.into();
    }
    if let Some(c) = correlation_id {
        env["correlation_id"] = c.into();
    }
    env["time"] = now_ms().into();
    let canon = schema::normalize(&schema::ENVELOPE, &env).map_err(V2Error::format)?;
    Ok(fb::encode_envelope(&canon))
}

/// The permissions of which a caller needs one, per request message; `None` for
/// messages that are not requests (responses and events).
pub fn required_permissions(message_type: &str) -> Option<&'static [Permission]> {
    use Permission::*;
    Some(match message_type {
        "IsAlive" => &[],
        "AccountWeight" => &[ApiAccountWeight, AccountQuery],
        "ServiceRegister" => &[ApiServiceRegister, Service],
        "ServiceStop" => &[ApiServiceStop, Service],
        "TopicServiceStop" => &[ApiTopicServiceStop, Service],
        "TopicConfirmation" => &[ApiTopicConfirmation],
        _ => return None,
    })
}

/// An IPC session able to receive events: its broker id and the queue its writer drains.
#[derive(Debug, Clone)]
pub struct SessionLink {
    pub id: u64,
    pub events: mpsc::Sender<Response>,
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

impl SessionLink {
    /// A new link with a bounded event queue (events beyond it are dropped, so a client
    /// that stops reading cannot grow the node's memory).
    pub fn new(capacity: usize) -> (SessionLink, mpsc::Receiver<Response>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            SessionLink {
                id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
                events: tx,
            },
            rx,
        )
    }
}

#[derive(Debug)]
struct Subscriber {
    events: mpsc::Sender<Response>,
    services: HashSet<String>,
    service_stop: bool,
    confirmation: Option<Map<String, Value>>,
}

/// Who registered which service and who listens to which topic.
#[derive(Debug, Default)]
pub struct Broker {
    subs: Mutex<HashMap<u64, Subscriber>>,
}

impl Broker {
    fn with<R>(&self, link: &SessionLink, f: impl FnOnce(&mut Subscriber) -> R) -> R {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let s = subs.entry(link.id).or_insert_with(|| Subscriber {
            events: link.events.clone(),
            services: HashSet::new(),
            service_stop: false,
            confirmation: None,
        });
        f(s)
    }

    pub fn service_register(&self, link: &SessionLink, name: &str) {
        self.with(link, |s| s.services.insert(name.to_string()));
    }

    pub fn subscribe_service_stop(&self, link: &SessionLink, on: bool) {
        self.with(link, |s| s.service_stop = on);
    }

    pub fn subscribe_confirmation(&self, link: &SessionLink, options: Option<Map<String, Value>>) {
        self.with(link, |s| s.confirmation = options);
    }

    /// Forgets a closed session.
    pub fn remove_session(&self, id: u64) {
        self.subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Sends `EventServiceStop` to every session that registered `name` and listens to
    /// the service-stop topic; returns how many were told.
    pub fn service_stop(&self, name: &str) -> usize {
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for s in subs.values() {
            if s.service_stop && s.services.contains(name) {
                let ev = Response::new("EventServiceStop", json!({}), None);
                if s.events.try_send(ev).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Delivers one confirmation (a canonical `EventConfirmation` object) to the sessions
    /// whose options select it.
    pub fn publish_confirmation(&self, event: &Map<String, Value>) {
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        for s in subs.values() {
            let Some(opts) = &s.confirmation else {
                continue;
            };
            if !confirmation_selected(opts, event) {
                continue;
            }
            let mut msg = event.clone();
            if !opts
                .get("include_block")
                .and_then(Value::as_bool)
                .unwrap_or(true)
            {
                msg.remove("block");
                msg.remove("block_type");
            }
            if !opts
                .get("include_election_info")
                .and_then(Value::as_bool)
                .unwrap_or(true)
            {
                msg.remove("election_info");
            }
            let _ = s
                .events
                .try_send(Response::new("EventConfirmation", Value::Object(msg), None));
        }
    }

    /// Turns the node's confirmed blocks into `EventConfirmation`s for subscribers. Must be
    /// called inside a Tokio runtime; the task ends when the bus closes.
    pub fn forward_node_events(self: &Arc<Self>, bus: &nano_node::events::EventBus) {
        let mut rx = bus.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if let Some(m) = confirmation_event(&ev) {
                            me.publish_confirmation(&m);
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}

fn confirmation_selected(opts: &Map<String, Value>, event: &Map<String, Value>) -> bool {
    let kind = event
        .get("confirmation_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let type_ok = match opts
        .get("confirmation_type_filter")
        .and_then(Value::as_str)
        .unwrap_or("all")
    {
        "all" => true,
        "active" => kind == "active_quorum" || kind == "active_confirmation_height",
        other => other == kind,
    };
    let accounts_ok = match opts.get("accounts").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            let acct = event.get("account").and_then(Value::as_str).unwrap_or("");
            let key = nano_core::PublicKey::decode_account(acct).ok();
            list.iter().filter_map(Value::as_str).any(|a| {
                a == acct || (key.is_some() && nano_core::PublicKey::decode_account(a).ok() == key)
            })
        }
        _ => true,
    };
    type_ok && accounts_ok
}

/// `EventConfirmation` for a confirmed-block node event.
fn confirmation_event(ev: &nano_node::events::NodeEvent) -> Option<Map<String, Value>> {
    let nano_node::events::NodeEvent::BlockConfirmed {
        hash,
        account,
        amount,
        block,
        subtype,
        confirmation_type,
        election,
        ..
    } = ev
    else {
        return None;
    };
    let mut m = Map::new();
    m.insert(
        "confirmation_type".into(),
        confirmation_type.as_str().into(),
    );
    m.insert("account".into(), account.encode_account().into());
    m.insert("amount".into(), amount.to_string().into());
    m.insert("hash".into(), hash.encode_hex().into());
    let member = match block.get("type").and_then(Value::as_str) {
        Some("state") => Some(&schema::BLOCK_STATE),
        Some("open") => Some(&schema::BLOCK_OPEN),
        Some("receive") => Some(&schema::BLOCK_RECEIVE),
        Some("send") => Some(&schema::BLOCK_SEND),
        Some("change") => Some(&schema::BLOCK_CHANGE),
        _ => None,
    };
    if let Some(def) = member {
        let mut b = Map::new();
        for f in def.fields {
            if f.name == "hash" {
                b.insert("hash".into(), hash.encode_hex().into());
            } else if f.name == "subtype" {
                if schema::BLOCK_SUB_TYPE.contains(&subtype.as_str()) {
                    b.insert("subtype".into(), subtype.clone().into());
                }
            } else if let Some(Value::String(s)) = block.get(f.name) {
                b.insert(f.name.into(), s.clone().into());
            }
        }
        m.insert("block_type".into(), def.name.into());
        m.insert("block".into(), Value::Object(b));
    }
    if let Some(e) = election {
        let num = |k: &str| -> Option<Value> {
            match e.get(k)? {
                Value::Number(n) => n.as_u64().map(Value::from),
                Value::String(s) => s.parse::<u64>().ok().map(Value::from),
                _ => None,
            }
        };
        let mut info = Map::new();
        for (to, from) in [
            ("duration", "duration"),
            ("time", "time"),
            ("request_count", "request_count"),
            ("block_count", "blocks"),
            ("voter_count", "voters"),
        ] {
            if let Some(v) = num(from) {
                info.insert(to.into(), v);
            }
        }
        if let Some(Value::String(t)) = e.get("tally") {
            info.insert("tally".into(), t.clone().into());
        }
        m.insert("election_info".into(), Value::Object(info));
    }
    Some(m)
}

/// The IPC 2.0 request handler shared by the IPC sessions and the `/api/v2` gateway.
pub struct V2Service {
    pub ctx: Arc<ApiContext>,
    pub access: Arc<AccessControl>,
    pub broker: Arc<Broker>,
}

impl V2Service {
    pub fn new(ctx: Arc<ApiContext>, access: Arc<AccessControl>) -> Arc<V2Service> {
        ApiContext::remember_shared(&ctx);
        Arc::new(V2Service {
            ctx,
            access,
            broker: Arc::new(Broker::default()),
        })
    }

    /// Runs one request. `session` is the IPC session for subscriptions; HTTP has none,
    /// and subscription messages over HTTP get an error. May block (ledger reads): call
    /// from a blocking-capable context.
    pub fn handle(&self, req: &Request, session: Option<&SessionLink>) -> Response {
        let corr = req.correlation_id.clone();
        match self.run(req, session) {
            Ok((t, m)) => Response::new(t, m, corr),
            Err(e) => Response::error(&e, corr),
        }
    }

    fn run(
        &self,
        req: &Request,
        session: Option<&SessionLink>,
    ) -> Result<(&'static str, Value), V2Error> {
        self.admit(req.message_type, &req.credentials)?;
        let text = |k: &str| req.message.get(k).and_then(Value::as_str).unwrap_or("");
        let flag = |k: &str| req.message.get(k).and_then(Value::as_bool).unwrap_or(false);
        let need_session = || {
            session.ok_or_else(|| {
                V2Error::new(
                    CODE_GENERIC,
                    format!("{} needs a persistent IPC session", req.message_type),
                )
            })
        };
        match req.message_type {
            "IsAlive" => Ok(("IsAlive", json!({}))),
            "AccountWeight" => self.account_weight(text("account")),
            "ServiceRegister" => {
                let link = need_session()?;
                self.broker.service_register(link, text("service_name"));
                Ok(("Success", json!({})))
            }
            "ServiceStop" => {
                let name = text("service_name");
                if name == "node" {
                    self.ctx.stop.notify_waiters();
                    self.ctx.stop.notify_one();
                } else {
                    self.broker.service_stop(name);
                }
                Ok(("Success", json!({})))
            }
            "TopicServiceStop" => {
                let link = need_session()?;
                self.broker
                    .subscribe_service_stop(link, !flag("unsubscribe"));
                Ok(("EventAck", json!({})))
            }
            "TopicConfirmation" => {
                let link = need_session()?;
                let options = if flag("unsubscribe") {
                    None
                } else {
                    Some(
                        req.message
                            .get("options")
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                    )
                };
                self.broker.subscribe_confirmation(link, options);
                Ok(("EventAck", json!({})))
            }
            _ => Err(V2Error::new(CODE_GENERIC, "Unknown message type")),
        }
    }

    /// Refuses a message type that is no request, or that `credentials` may not send.
    fn admit(&self, message_type: &str, credentials: &str) -> Result<(), V2Error> {
        let Some(perms) = required_permissions(message_type) else {
            return Err(V2Error::new(CODE_GENERIC, "Unknown message type"));
        };
        if !self.access.has_access_to_oneof(credentials, perms) {
            return Err(V2Error::new(CODE_ACCESS_DENIED, "Access denied"));
        }
        Ok(())
    }

    /// The `AccountWeight` answer: the voting weight the ledger holds for `account`.
    fn account_weight(&self, account: &str) -> Result<(&'static str, Value), V2Error> {
        let weight = self.voting_weight(account)?;
        Ok(("AccountWeightResponse", json!({"voting_weight": weight})))
    }

    /// The voting weight the ledger holds for `account`, in decimal.
    fn voting_weight(&self, account: &str) -> Result<String, V2Error> {
        let Ok(rep) = nano_core::PublicKey::decode_account(account) else {
            return Err(V2Error::new(CODE_BAD_ACCOUNT, "Bad account number"));
        };
        let ledger = self
            .ctx
            .ledger()
            .map_err(|e| V2Error::new(CODE_GENERIC, e.0))?;
        Ok(ledger.weight(&rep).encode_dec())
    }

    /// The JSON text [`Self::handle`] answers to an `AccountWeight` request of these
    /// credentials, correlation id and account (the same bytes as its
    /// [`Response::to_json`], at this time), for a front door that read the three without
    /// building a [`Request`] (the `/api/v2/AccountWeight` gateway's fast path). The
    /// answer is written straight to text: no message map, no `Value`.
    pub fn account_weight_text(
        &self,
        credentials: &str,
        correlation_id: Option<&str>,
        account: &str,
    ) -> Vec<u8> {
        let weight = self
            .admit("AccountWeight", credentials)
            .and_then(|()| self.voting_weight(account));
        match weight {
            Ok(w) => account_weight_answer(now_ms(), correlation_id, &w),
            Err(e) => Response::error(&e, correlation_id.map(str::to_string)).to_json(),
        }
    }

    /// One JSON request body in, one JSON answer out (IPC encoding 4).
    pub fn handle_json(&self, body: &[u8], session: Option<&SessionLink>) -> Vec<u8> {
        match Request::from_json(body) {
            Ok(req) => self.handle(&req, session).to_json(),
            Err((e, corr)) => error_json(&e, corr),
        }
    }

    /// One FlatBuffers request in, one FlatBuffers answer out (IPC encoding 3).
    pub fn handle_flatbuffer(&self, body: &[u8], session: Option<&SessionLink>) -> Vec<u8> {
        match Request::from_flatbuffer(body) {
            Ok(req) => self.handle(&req, session).to_flatbuffer(),
            Err((e, corr)) => Response::error(&e, corr).to_flatbuffer(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_is_the_canonical_envelope() {
        let message = json!({"voting_weight": "12", "z": [1, {"a": "b"}], "a": ""});
        for corr in [None, Some("c-\"1\"".to_string())] {
            let r = Response::new("AccountWeightResponse", message.clone(), corr);
            let canonical = serde_json::to_vec(&r.to_canonical()).unwrap();
            assert_eq!(
                String::from_utf8(r.to_json()).unwrap(),
                String::from_utf8(canonical).unwrap()
            );
        }
    }

    #[test]
    fn account_weight_text_is_the_envelope_text() {
        let long = "c".repeat(300);
        let corrs = [
            None,
            Some("c-9"),
            Some("c \"q\" \\ \n\u{1} é"),
            Some(long.as_str()),
        ];
        let weights = ["0", "12", "340282366920938463463374607431768211455"];
        for corr in corrs {
            for w in weights {
                for time in [0, 1_765_000_000_000, u64::MAX] {
                    let mut r = Response::new(
                        "AccountWeightResponse",
                        json!({"voting_weight": w}),
                        corr.map(str::to_string),
                    );
                    r.time = time;
                    assert_eq!(
                        String::from_utf8(account_weight_answer(time, corr, w)).unwrap(),
                        String::from_utf8(r.to_json()).unwrap()
                    );
                }
            }
        }
    }
}
