//! The HTTP front of the out-of-process RPC server (`nano_rpc`): the same routes as the
//! in-process server (RPC v1 at any path, `/api/v2`), but each request is forwarded to
//! the node over an [`IpcPool`] — v1 with encoding 1, v2 envelopes with encoding 4 — and
//! the node's answer is returned byte for byte. This process enforces `enable_control`,
//! the JSON depth limit and the body limit from `config-rpc.toml`, as the reference's RPC
//! process does; the node trusts its IPC clients. Each v1 request carries the HTTP
//! client's address ([`super::FORWARDED_CLIENT`]), so the node's slow-action pool is fair
//! between the clients behind this process as it is between its own HTTP clients.
//!
//! The node counts a slow answer as held only until it has written it to this process;
//! here the answer waits for the HTTP client. So this front counts the bytes of the
//! answers (v1 and v2) its connections have not yet taken ([`super::front_memory`], under
//! the same `slow_action_client_answer_memory`, `slow_action_answer_memory` and
//! `slow_action_answer_min_rate` keys): a client reading slowly on many connections
//! cannot make this process hold `connections_max` answers, and one that does not read
//! cannot keep the others out for long.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Extension;
use axum::Router;
use serde_json::Value;

use super::client::IpcPool;
use super::front_memory::FrontMemory;
use super::Encoding;
use crate::api_v2::http::{
    answer_correlation, envelope_from_http, http_answer, http_answer_with_body, preflight,
};
use crate::api_v2::{Response as V2Response, V2Error, CODE_GENERIC};
use crate::error::{msg, RpcError};
use crate::rpc_config::RpcConfig;

/// The text of a v1 answer when the node cannot be reached.
pub const NODE_UNREACHABLE: &str = "Unable to communicate with the node over IPC";

#[derive(Clone)]
struct Fwd {
    pool: Arc<IpcPool>,
    enable_control: bool,
    max_depth: usize,
    allowed_origins: Arc<Vec<String>>,
    memory: Arc<FrontMemory>,
}

/// The router of `nano_rpc`.
pub fn router(pool: Arc<IpcPool>, cfg: &RpcConfig) -> Router {
    let memory = FrontMemory::new(cfg.answer_memory(), pool.size());
    router_with_memory(pool, cfg, memory)
}

/// [`router`] counting its answers in `memory` (whose limits replace `cfg`'s).
fn router_with_memory(pool: Arc<IpcPool>, cfg: &RpcConfig, memory: Arc<FrontMemory>) -> Router {
    let st = Fwd {
        pool,
        enable_control: cfg.enable_control,
        max_depth: cfg.max_json_depth as usize,
        allowed_origins: Arc::new(cfg.allowed_origins.clone()),
        memory,
    };
    Router::new()
        .route("/api/v2", any(v2_envelope))
        .route("/api/v2/", any(v2_envelope))
        .route("/api/v2/{message}", any(v2_message))
        .route("/", any(v1))
        .route("/{*path}", any(v1))
        .layer(DefaultBodyLimit::max(cfg.max_request_size as usize))
        .with_state(st)
}

fn json_text(body: Vec<u8>) -> Response {
    json_headers((StatusCode::OK, body).into_response())
}

fn json_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

fn v1_error(text: &str) -> Response {
    json_text(RpcError::new(text).to_json().to_string().into_bytes())
}

/// The reference RPC process's gates, applied before forwarding; may rewrite the body
/// (a `send` without `id` gets a random one so a retried request cannot pay twice).
fn gate_v1(
    body: &[u8],
    enable_control: bool,
    foreign_page: bool,
    max_depth: usize,
) -> Result<Option<Vec<u8>>, &'static str> {
    if crate::json::json_depth_exceeds(body, max_depth) {
        return Err(msg::MAX_DEPTH);
    }
    let Ok(Value::Object(mut req)) = serde_json::from_slice::<Value>(body) else {
        return Err(msg::UNABLE_TO_PARSE_JSON);
    };
    let Some(action) = req
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(msg::UNABLE_TO_PARSE_JSON);
    };
    if foreign_page && crate::browser_origin::v1_refused(&req) {
        return Err(crate::browser_origin::ORIGIN_REFUSED);
    }
    if !enable_control && crate::actions::is_control_request(&action, &req) {
        return Err(msg::CONTROL_DISABLED);
    }
    if action == "send" && !req.contains_key("id") {
        let id: [u8; 16] = rand::random();
        req.insert(
            "id".into(),
            nano_core::numbers::encode_hex_upper(&id).into(),
        );
        return Ok(Some(serde_json::to_vec(&req).unwrap_or_default()));
    }
    Ok(None)
}

async fn v1(
    State(s): State<Fwd>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    deadline: Option<Extension<nano_http::AnswerDeadline>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = preflight(&method) {
        return r;
    }
    let foreign = crate::browser_origin::is_foreign(&headers, &s.allowed_origins);
    let rewritten = match gate_v1(&body, s.enable_control, foreign, s.max_depth) {
        Ok(r) => r,
        Err(text) => return v1_error(text),
    };
    let payload = rewritten.as_deref().unwrap_or(&body);
    let client = client_of(peer.as_ref());
    let peer_ip = peer.map(|p| p.0 .0.ip());
    let Some(admitted) = s.memory.admit(client).await else {
        return v1_error(crate::worker_pool::BUSY);
    };
    let named = peer_ip.and_then(|ip| name_client(payload, ip));
    let payload = named.as_deref().unwrap_or(payload);
    match s.pool.request(Encoding::JsonV1, payload).await {
        Ok(answer) => match held_body(&s, admitted, deadline, answer) {
            Some(body) => json_headers((StatusCode::OK, body).into_response()),
            None => v1_error(crate::worker_pool::BUSY),
        },
        Err(e) => {
            tracing::warn!("nano_rpc: IPC request failed: {e}");
            v1_error(NODE_UNREACHABLE)
        }
    }
}

/// The body handing `answer` to the HTTP client, its bytes counted in the front's memory
/// until taken (and its connection closed if it falls behind the minimum rate); None when
/// the memory refuses it (a large answer while the total is held).
fn held_body(
    s: &Fwd,
    admitted: super::front_memory::Admitted,
    deadline: Option<Extension<nano_http::AnswerDeadline>>,
    answer: Vec<u8>,
) -> Option<axum::body::Body> {
    let held = admitted.hold(answer.len())?;
    let armed = s
        .memory
        .limits()
        .arm(deadline.as_ref().map(|d| &d.0), answer.len());
    if let Some(a) = &armed {
        held.set_closer(a.closer());
    }
    let body = crate::answer_body::HeldBody::new(answer, held, armed);
    Some(axum::body::Body::new(body))
}

/// The client of a request for the front's memory and the node's pool: its address, or
/// unnamed when the server gave none (tests calling the router directly).
fn client_of(peer: Option<&Extension<ConnectInfo<SocketAddr>>>) -> crate::worker_pool::Client {
    peer.map_or(crate::worker_pool::Client::Unnamed, |p| {
        crate::worker_pool::Client::from_ip(p.0 .0.ip())
    })
}

/// The request with [`super::FORWARDED_CLIENT`] set to `client` (replacing any value the
/// HTTP client sent), so the node queues its slow actions per HTTP client; none when the
/// body is not a JSON object (the node answers that as it would anyway).
fn name_client(payload: &[u8], client: IpAddr) -> Option<Vec<u8>> {
    let mut req = match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(req)) => req,
        _ => return None,
    };
    req.insert(super::FORWARDED_CLIENT.into(), client.to_string().into());
    serde_json::to_vec(&req).ok()
}

/// What a v2 handler knows of its connection: the client's address and the answer's
/// deadline, for the front's answer memory.
type V2Conn = (
    Option<Extension<ConnectInfo<SocketAddr>>>,
    Option<Extension<nano_http::AnswerDeadline>>,
);

async fn v2_envelope(
    State(s): State<Fwd>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    deadline: Option<Extension<nano_http::AnswerDeadline>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    v2(s, None, (peer, deadline), method, headers, body).await
}

async fn v2_message(
    State(s): State<Fwd>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    deadline: Option<Extension<nano_http::AnswerDeadline>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    v2(s, Some(name), (peer, deadline), method, headers, body).await
}

/// A v2 request forwarded as an envelope. Its answer counts in the front's memory like a
/// v1 answer: v2 has no listing message, but an answer echoes the request's correlation
/// id, which may be as long as the body limit allows.
async fn v2(
    s: Fwd,
    name: Option<String>,
    (peer, deadline): V2Conn,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = preflight(&method) {
        return r;
    }
    if crate::json::json_depth_exceeds(&body, s.max_depth) {
        let e = V2Error::new(CODE_GENERIC, msg::MAX_DEPTH);
        return http_answer(V2Response::error(&e, None).to_json());
    }
    let env = match envelope_from_http(name.as_deref(), &headers, &body) {
        Ok(env) => env,
        Err(answer) => return http_answer(answer),
    };
    if let Some(answer) = crate::browser_origin::v2_refusal(&headers, &s.allowed_origins, &env) {
        return http_answer(answer);
    }
    let corr = || {
        env.get("correlation_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let refusal = |text: &str| {
        http_answer(V2Response::error(&V2Error::new(CODE_GENERIC, text), corr()).to_json())
    };
    let Some(admitted) = s.memory.admit(client_of(peer.as_ref())).await else {
        return refusal(crate::worker_pool::BUSY);
    };
    match s
        .pool
        .request(Encoding::FlatBuffersJson, env.to_string().as_bytes())
        .await
    {
        Ok(answer) => {
            let answer_corr = answer_correlation(&answer);
            match held_body(&s, admitted, deadline, answer) {
                Some(body) => http_answer_with_body(body, answer_corr.as_deref()),
                None => refusal(crate::worker_pool::BUSY),
            }
        }
        Err(e) => {
            tracing::warn!("nano_rpc: IPC request failed: {e}");
            refusal(NODE_UNREACHABLE)
        }
    }
}

/// Binds `cfg.address:cfg.port` and serves [`router`] until `shutdown` resolves; returns
/// the bound address.
pub async fn serve(
    pool: Arc<IpcPool>,
    cfg: &RpcConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<std::net::SocketAddr> {
    let memory = FrontMemory::new(cfg.answer_memory(), pool.size());
    serve_with_memory(pool, cfg, memory, shutdown).await
}

/// [`serve`] counting its answers in `memory`, which the caller keeps to watch it (tests
/// and benchmarks; its limits replace `cfg`'s, and may shorten the grace and the
/// cooldown, which are not configuration keys).
pub async fn serve_with_memory(
    pool: Arc<IpcPool>,
    cfg: &RpcConfig,
    memory: Arc<FrontMemory>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<std::net::SocketAddr> {
    let ip: std::net::IpAddr = cfg.address.parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("rpc address {:?}: {e}", cfg.address),
        )
    })?;
    let listener = nano_http::bind_listener(std::net::SocketAddr::new(ip, cfg.port))?;
    let local = listener.local_addr()?;
    let app = router_with_memory(pool, cfg, memory);
    crate::bounded_http::spawn_serve(listener, app, cfg.http_limits(), shutdown);
    Ok(local)
}
