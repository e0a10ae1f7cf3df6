//! Replay ceilings, shared by the benches that measure the node against a bare server on
//! the same stack (axum + hyper under the node's connection limits, `bounded_http`): an
//! answer the node gave, captured once, and a server answering a constant copy of it, so
//! that moving an answer of that size through the loopback is not charged to the node.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::any;
use axum::Router;
use nano_api::RpcConfig;
use nano_core::Network;

/// An answer as the probe received it: the headers a replay repeats, and the body.
pub struct Answer {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Headers of an answer that the serving stack writes itself (per answer or per
/// connection), so a replay does not repeat them.
const STACK_HEADERS: &[&str] = &["date", "content-length", "connection", "transfer-encoding"];

/// Checks once that `host` answers a POST of `body` to `path` with a 200 and no error
/// (load generators see only status codes, and the RPC answers errors with 200), and
/// returns the answer.
pub fn capture(host: &str, path: &str, body: &str) -> Answer {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("{host}: cannot connect: {e}"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200")
            && !answer.contains("\"error\"")
            && !answer.contains("\"Error\""),
        "{path} {body}: {answer}"
    );
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: no end of head in {answer:?}"));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| !STACK_HEADERS.contains(&k.as_str()))
        .collect();
    Answer {
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// A bare server on the same stack as the 44-byte ceiling answering a constant copy of
/// `answer` at every path.
pub async fn start_replay(answer: &Answer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = RpcConfig::defaults(Network::Dev).http_limits();
    nano_api::bounded_http::spawn_serve(
        listener,
        replay_router(answer),
        limits,
        std::future::pending(),
    );
    addr
}

/// The router of a replay ceiling.
pub fn replay_router(answer: &Answer) -> Router {
    use axum::http::{HeaderName, HeaderValue};
    use axum::response::IntoResponse;
    let headers: Arc<Vec<(HeaderName, HeaderValue)>> = Arc::new(
        answer
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect(),
    );
    let body = axum::body::Bytes::from(answer.body.clone());
    // Built as the node builds its answers: the body, then each header inserted.
    let reply = move || {
        let (headers, body) = (headers.clone(), body.clone());
        async move {
            let mut r = body.into_response();
            for (k, v) in headers.iter() {
                r.headers_mut().insert(k.clone(), v.clone());
            }
            r
        }
    };
    Router::new()
        .route("/", any(reply.clone()))
        .route("/{*path}", any(reply))
}
