//! The HTTP JSON RPC front door: POST of `{"action": ...}` to any path (as the reference
//! node accepts), body size and JSON depth limits from `config-rpc.toml`, connection
//! limits and timeouts ([`crate::bounded_http`]), CORS preflight, and the reference error
//! texts. Slow actions run on the bounded [`crate::worker_pool`] pool in the queue of the
//! request's source address, the rest inline ([`crate::actions::answer`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::context::{ApiContext, Origin};
use crate::rpc_config::RpcConfig;
use crate::worker_pool::Client;

#[derive(Clone)]
struct Shared {
    ctx: Arc<ApiContext>,
    origin: Origin,
    max_depth: usize,
    allowed_origins: Arc<Vec<String>>,
    /// `rpc.logging.log_rpc`: each request is logged at info level (debug otherwise).
    log_rpc: bool,
    /// `max_request_size`: the largest request body.
    max_body: usize,
}

/// The router serving RPC v1 at every path, and `/api/v2` with the built-in access rules.
pub fn router(ctx: Arc<ApiContext>, cfg: &RpcConfig) -> Router {
    router_with_v2(default_v2(ctx), cfg)
}

fn default_v2(ctx: Arc<ApiContext>) -> Arc<crate::api_v2::V2Service> {
    let access = crate::access::AccessControl::fixed(Default::default());
    crate::api_v2::V2Service::new(ctx, Arc::new(access))
}

/// The router with `/api/v2` served by `v2` (whose access rules come from
/// `config-access.toml`); RPC v1 uses `v2.ctx`.
pub fn router_with_v2(v2: Arc<crate::api_v2::V2Service>, cfg: &RpcConfig) -> Router {
    let ctx = v2.ctx.clone();
    let shared = Shared {
        ctx: ctx.clone(),
        origin: Origin {
            control: cfg.enable_control,
            allow_unsafe: ctx.network == nano_core::Network::Dev,
        },
        max_depth: cfg.max_json_depth as usize,
        allowed_origins: Arc::new(cfg.allowed_origins.clone()),
        log_rpc: cfg.logging.log_rpc,
        max_body: cfg.max_request_size as usize,
    };
    Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/", any(handle))
        .route("/{*path}", any(handle))
        .with_state(shared)
        .merge(crate::api_v2::http::routes(
            v2,
            cfg.max_request_size as usize,
            cfg.allowed_origins.clone(),
        ))
}

fn json_text_response(text: Vec<u8>) -> Response {
    json_headers((StatusCode::OK, text).into_response())
}

/// A slow action's answer, which holds its place in the pool's answer memory until the
/// connection has taken it ([`crate::answer_body`]), and must be taken before the
/// connection's `deadline` armed for it ([`crate::answer_memory::AnswerMemory::arm`]).
fn answer_response(
    answer: crate::actions::Answer,
    memory: &crate::answer_memory::AnswerMemory,
    deadline: Option<&nano_http::AnswerDeadline>,
) -> Response {
    match answer.held {
        None => json_text_response(answer.text),
        Some(held) => {
            let armed = memory.arm(deadline, answer.text.len());
            if let Some(a) = &armed {
                held.set_closer(a.closer());
            }
            let body = crate::answer_body::HeldBody::new(answer.text, held, armed);
            json_headers((StatusCode::OK, axum::body::Body::new(body)).into_response())
        }
    }
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

async fn metrics(State(s): State<Shared>) -> Response {
    let ctx = s.ctx.clone();
    let text = tokio::task::spawn_blocking(move || crate::metrics::render(&ctx))
        .await
        .unwrap_or_default();
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

/// A request as it may be written to the log: the password replaced by its name, and
/// wallet ids, keys and seeds cut to their first two characters, as the reference does.
fn loggable(req: &crate::json::Req) -> String {
    let mut r = req.clone();
    if r.contains_key("password") {
        r.insert("password".into(), "password".into());
    }
    for k in ["wallet", "key", "seed"] {
        if let Some(serde_json::Value::String(v)) = r.get_mut(k) {
            if v.len() > 2 && v.is_char_boundary(2) {
                let masked = format!("{}{}", &v[..2], "X".repeat(v.len() - 2));
                *v = masked;
            }
        }
    }
    serde_json::Value::Object(r).to_string()
}

/// Whether a request's log line would be written: at info level with `log_rpc`, at debug
/// level without, and only where a subscriber takes that level for `rpc_request` (the
/// daemon's log config). A request that is not logged needs no request map for it.
fn request_logged(log_rpc: bool) -> bool {
    if log_rpc {
        tracing::enabled!(target: "rpc_request", tracing::Level::INFO)
    } else {
        tracing::enabled!(target: "rpc_request", tracing::Level::DEBUG)
    }
}

/// Writes a request's log line: at info level with `log_rpc`, at debug level without.
fn log_request(log_rpc: bool, line: &str) {
    if log_rpc {
        tracing::info!(target: "rpc_request", "Request: {line}");
    } else {
        tracing::debug!(target: "rpc_request", "Request: {line}");
    }
}

/// A JSON text on one line: the whitespace between tokens dropped (a client may send
/// it pretty-printed), every string kept byte for byte, so the log line reads as the
/// general way's compact rendering of the same request.
fn compact_json(text: &[u8]) -> String {
    let out: Vec<u8> = crate::json::string_aware(text)
        .filter(|&(c, in_str)| in_str || !c.is_ascii_whitespace())
        .map(|(c, _)| c)
        .collect();
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes the whole request (not the method, headers and peer as separate extractors,
/// each a copy) and reads what it needs in place before taking the body.
async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let preflight = crate::api_v2::http::preflight(req.method());
    let foreign = crate::browser_origin::is_foreign(req.headers(), &s.allowed_origins);
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let deadline = req.extensions().get::<nano_http::AnswerDeadline>().cloned();
    // The body's size is checked first, before the preflight and method.
    let Some(body) = whole_body(req.into_body(), s.max_body).await else {
        return crate::bounded_http::body_refused(s.max_body);
    };
    // CORS preflight and method check are shared with /api/v2 (same port).
    if let Some(resp) = preflight {
        return resp;
    }
    let ctx = s.ctx.clone();
    let started = std::time::Instant::now();
    let logged = request_logged(s.log_rpc);
    // The plainest block_count and account_info requests, straight from the text, when
    // no origin rule applies. Logged from their own text: such a request has no field
    // that could hold a secret (`PlainQuery` refuses every other field), so the request
    // map that the general way builds for the log is not needed.
    if !foreign {
        if let Some(text) = crate::actions::plain_query(&ctx, &body, s.max_depth) {
            if logged {
                log_request(s.log_rpc, &compact_json(&body));
            }
            s.ctx.rpc_latency.record(started.elapsed());
            return json_text_response(text);
        }
    }
    let parsed = crate::actions::parse_request(&body, s.max_depth);
    if let (true, Ok(req)) = (logged, &parsed) {
        log_request(s.log_rpc, &loggable(req));
    }
    let answer: crate::actions::Answer = match parsed {
        Err(e) => e.to_string().into_bytes().into(),
        Ok(req) if foreign && crate::browser_origin::v1_refused(&req) => {
            crate::error::RpcError::new(crate::browser_origin::ORIGIN_REFUSED)
                .to_json()
                .to_string()
                .into_bytes()
                .into()
        }
        Ok(req) => {
            // The slow-action pool queues per client: the connection's source address
            // (set by the bounded server; absent when the router is served otherwise).
            let client = peer.map_or(Client::Unnamed, |p| Client::from_ip(p.ip()));
            crate::actions::answer(&ctx, req, s.origin, client).await
        }
    };
    s.ctx.rpc_latency.record(started.elapsed());
    let memory = s.ctx.slow_actions.answer_memory();
    answer_response(answer, &memory, deadline.as_ref())
}

/// The whole request body, `None` past `max` bytes or when it breaks off. Read here
/// rather than through axum's body-limit layer and `Bytes` extractor: behind the bounded
/// server (every listener of the node) the body arrives whole in one frame, which is
/// taken as it is, where the layer cost a boxed service clone, a request extension, a
/// boxed limited body and a collecting buffer per request.
pub(crate) async fn whole_body(mut body: Body, max: usize) -> Option<Bytes> {
    if body.size_hint().lower() > max as u64 {
        return None;
    }
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    // Bounded: every turn takes a frame of a body whose total is capped at `max`.
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers
        };
        let total = first.as_ref().map_or(0, Bytes::len) + joined.len() + data.len();
        if total > max {
            return None;
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            earlier => {
                if let Some(e) = earlier {
                    joined.extend_from_slice(&e);
                }
                joined.extend_from_slice(&data);
            }
        }
    }
    Some(first.unwrap_or_else(|| joined.into()))
}

/// Binds the configured address and serves until `shutdown` resolves.
pub async fn serve(
    ctx: Arc<ApiContext>,
    cfg: &RpcConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    serve_with_v2(default_v2(ctx), cfg, shutdown).await
}

/// [`serve`] with `/api/v2` served by `v2`.
pub async fn serve_with_v2(
    v2: Arc<crate::api_v2::V2Service>,
    cfg: &RpcConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let addr: std::net::IpAddr = cfg.address.parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("rpc address {:?}: {e}", cfg.address),
        )
    })?;
    let listener = nano_http::bind_listener(SocketAddr::new(addr, cfg.port))?;
    let local = listener.local_addr()?;
    let app = router_with_v2(v2, cfg);
    crate::bounded_http::spawn_serve(listener, app, cfg.http_limits(), shutdown);
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::{compact_json, loggable, request_logged, whole_body};
    use axum::body::{Body, Bytes};

    fn read(body: Body, max: usize) -> Option<Bytes> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(whole_body(body, max))
    }

    /// A body arriving in the given frames, as a streamed request would.
    fn frames(parts: &[&'static str]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    }

    #[test]
    fn bodies_are_read_whole_up_to_the_cap() {
        assert_eq!(
            read(Body::from("{\"a\":1}"), 7),
            Some(Bytes::from("{\"a\":1}"))
        );
        assert_eq!(read(Body::from("{\"a\":1}"), 6), None);
        assert_eq!(read(Body::empty(), 0), Some(Bytes::new()));
        assert_eq!(
            read(frames(&["ab", "", "cd", "e"]), 5),
            Some(Bytes::from("abcde"))
        );
        assert_eq!(read(frames(&["ab", "cd", "e"]), 4), None);
        assert_eq!(read(frames(&["", "xyz"]), 3), Some(Bytes::from("xyz")));
        let broken: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("reset")),
        ];
        assert_eq!(
            read(Body::from_stream(futures::stream::iter(broken)), 9),
            None
        );
    }

    #[test]
    fn requests_are_logged_where_a_subscriber_takes_their_level() {
        // No subscriber: nothing is written, whatever log_rpc says.
        assert!(!request_logged(true));
        assert!(!request_logged(false));
        let up_to = |level| {
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(std::io::sink)
                .finish()
        };
        tracing::subscriber::with_default(up_to(tracing::Level::INFO), || {
            assert!(request_logged(true));
            assert!(!request_logged(false));
        });
        tracing::subscriber::with_default(up_to(tracing::Level::DEBUG), || {
            assert!(request_logged(true));
            assert!(request_logged(false));
        });
    }

    #[test]
    fn plain_requests_are_logged_on_one_line_with_their_strings_as_sent() {
        let pretty = b"{\n  \"action\" : \"account_info\",\n\t\"account\": \"nano_1 \\\" x\"\n}\n";
        assert_eq!(
            compact_json(pretty),
            r#"{"action":"account_info","account":"nano_1 \" x"}"#
        );
        assert_eq!(
            compact_json(br#"{"action":"block_count"}"#),
            r#"{"action":"block_count"}"#
        );
    }

    #[test]
    fn logged_requests_hide_secrets() {
        let req = serde_json::json!({"action": "wallet_add", "wallet": "ABCDEF",
            "key": "0123", "seed": "99", "password": "hunter2"});
        let text = loggable(req.as_object().unwrap());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["wallet"], "ABXXXX");
        assert_eq!(v["key"], "01XX");
        assert_eq!(v["seed"], "99");
        assert_eq!(v["password"], "password");
        assert_eq!(v["action"], "wallet_add");
    }
}
