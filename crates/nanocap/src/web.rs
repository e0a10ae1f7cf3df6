//! The web console and REST API (axum): the reference's `/api/v1` endpoints, the embedded
//! single-page console, and the glue that forwards capture controls to the engine thread.
//! Queries go through [`crate::query`]'s read-only connections on blocking threads.
//!
//! The state-changing endpoints (`capture/start|stop|toggle|destroy`) accept POST only,
//! and only from the console itself or a non-browser client: a request whose `Origin`
//! header is not this server's own origin is refused, so a web page open in the same
//! browser cannot stop a capture or destroy its data (the reference answers GET from
//! anywhere).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use nano_http::HttpLimits;

use crate::engine::Control;
use crate::status::Status;

const INDEX_HTML: &str = include_str!("../assets/index.html");

/// What the handlers share.
pub struct AppState {
    pub status: Arc<Status>,
    pub db_path: PathBuf,
    pub max_rows: usize,
    /// Channel to the engine; `None` when nothing can be controlled.
    pub control: Option<Mutex<Sender<Control>>>,
    /// (when, packets) of the previous status call, for the packets/s figure.
    rate: Mutex<(Instant, u64, f64)>,
}

impl AppState {
    pub fn new(
        status: Arc<Status>,
        db_path: PathBuf,
        max_rows: usize,
        control: Option<Sender<Control>>,
    ) -> AppState {
        AppState {
            status,
            db_path,
            max_rows,
            control: control.map(Mutex::new),
            rate: Mutex::new((Instant::now(), 0, 0.0)),
        }
    }
}

type Shared = Arc<AppState>;

/// The router with every route.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/schema", get(schema))
        .route("/api/v1/capture/query", get(query))
        .route(
            "/api/v1/capture/start",
            post(|s, h| control(s, h, Control::Start)),
        )
        .route(
            "/api/v1/capture/stop",
            post(|s, h| control(s, h, Control::Stop)),
        )
        .route(
            "/api/v1/capture/toggle",
            post(|s, h| control(s, h, Control::Toggle)),
        )
        .route(
            "/api/v1/capture/destroy",
            post(|s, h| control(s, h, Control::Destroy)),
        )
        .route("/api/v1/count/packet", get(count_packet))
        .route("/api/v1/count/per-type", get(count_per_type))
        .fallback(get(index))
        .with_state(state)
}

/// Binds and serves under `limits` until the process ends.
pub async fn serve(state: Shared, addr: SocketAddr, limits: HttpLimits) -> anyhow::Result<()> {
    let listener = nano_http::bind_listener(addr)?;
    eprintln!("nanocap: web console on http://{}", listener.local_addr()?);
    let (task, _) = serve_on(listener, state, limits);
    task.await?;
    Ok(())
}

/// Serves the console on a bound listener with the node's HTTP limits (connection cap,
/// header, body and idle timeouts): axum's own `serve` has no timer, so slow or idle
/// clients would be kept forever. Returns the server task and its counters.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    state: Shared,
    limits: HttpLimits,
) -> (tokio::task::JoinHandle<()>, Arc<nano_http::HttpCounters>) {
    nano_http::spawn_serve(listener, router(state), limits, std::future::pending())
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Html(INDEX_HTML),
    )
        .into_response()
}

async fn status(State(s): State<Shared>) -> Json<Value> {
    let st = &s.status;
    let packets = st.packets.load(Ordering::Relaxed);
    let rate = {
        let mut g = s.rate.lock().unwrap_or_else(|e| e.into_inner());
        let dt = g.0.elapsed().as_secs_f64();
        if dt >= 0.5 {
            g.2 = packets.saturating_sub(g.1) as f64 / dt;
            *g = (Instant::now(), packets, g.2);
        }
        g.2
    };
    let total = st.progress_total.load(Ordering::Relaxed);
    let done = st.progress_bytes.load(Ordering::Relaxed);
    let stats = st
        .last_capture_stats
        .lock()
        .ok()
        .and_then(|g| *g)
        .map(|(r, d, i)| json!({"received": r, "dropped": d, "if_dropped": i}));
    let last_error = st.last_error.lock().ok().and_then(|g| g.clone());
    Json(json!({
        "capturing": st.capturing.load(Ordering::Relaxed),
        "importing": st.importing.load(Ordering::Relaxed),
        "max_db_size_reached": st.max_db_size_reached.load(Ordering::Relaxed),
        "version": crate::VERSION,
        "packet_queue_size": st.queue_rows.load(Ordering::Relaxed),
        "packet_parse_error_count": st.decode_errors.load(Ordering::Relaxed),
        "packets": packets,
        "messages": st.messages.load(Ordering::Relaxed),
        "packets_per_second": rate.round(),
        "progress": if total > 0 { (done as f64 / total as f64).min(1.0) } else { 0.0 },
        "capture_stats": stats,
        "last_error": last_error,
    }))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

async fn schema(State(s): State<Shared>) -> Json<Value> {
    let path = s.db_path.clone();
    match blocking(move || crate::query::schema(&path)).await {
        Some(Ok(tables)) => Json(json!(tables)),
        Some(Err(e)) => Json(json!({ "error": e })),
        None => Json(json!({ "error": "internal error" })),
    }
}

#[derive(Deserialize)]
struct QueryParams {
    query: Option<String>,
}

async fn query(State(s): State<Shared>, Query(p): Query<QueryParams>) -> Json<Value> {
    let Some(sql) = p.query.filter(|q| !q.trim().is_empty()) else {
        return Json(json!({ "error": "Missing query parameter" }));
    };
    let path = s.db_path.clone();
    let max = s.max_rows;
    match blocking(move || crate::query::run_query(&path, &sql, max)).await {
        Some(Ok(r)) => Json(json!(r)),
        Some(Err(e)) => Json(json!({ "error": e })),
        None => Json(json!({ "error": "internal error" })),
    }
}

/// True when a browser page of another origin sent the request: an `Origin` header
/// other than `http://<Host>` (the console's own origin).
fn foreign_page(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin.to_str().ok() != Some(&format!("http://{host}")) || host.is_empty()
}

async fn control(
    State(s): State<Shared>,
    headers: HeaderMap,
    make: fn(Sender<Result<(), String>>) -> Control,
) -> Response {
    if foreign_page(&headers) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "capture control is refused to pages of another origin"})),
        )
            .into_response();
    }
    let Some(tx) = s.control.as_ref() else {
        return Json(json!({"error": "capture control unavailable"})).into_response();
    };
    let (rtx, rrx) = mpsc::channel();
    let sent = tx
        .lock()
        .map(|t| t.send(make(rtx)).is_ok())
        .unwrap_or(false);
    if !sent {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "engine stopped"})),
        )
            .into_response();
    }
    let answer = blocking(move || rrx.recv_timeout(std::time::Duration::from_secs(30))).await;
    match answer {
        Some(Ok(Ok(()))) => Json(json!({})).into_response(),
        Some(Ok(Err(e))) => Json(json!({ "error": e })).into_response(),
        _ => Json(json!({"error": "no answer from the engine"})).into_response(),
    }
}

async fn count_packet(State(s): State<Shared>) -> Json<Value> {
    let path = s.db_path.clone();
    match blocking(move || crate::query::count_packets(&path)).await {
        Some(Ok(n)) => Json(json!({ "count": n })),
        Some(Err(e)) => Json(json!({ "error": e })),
        None => Json(json!({ "error": "internal error" })),
    }
}

async fn count_per_type(State(s): State<Shared>) -> Json<Value> {
    let out: Vec<Value> = (0..32usize)
        .map(|i| {
            let name = u8::try_from(i)
                .ok()
                .and_then(nano_messages::MessageType::from_u8)
                .map(|t| t.as_str());
            json!({"type": i, "name": name, "count": s.status.per_type[i].load(Ordering::Relaxed)})
        })
        .collect();
    Json(json!(out))
}
