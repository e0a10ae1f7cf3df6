//! The `/api/v2` HTTP gateway: `POST /api/v2/<MessageName>` with the bare message as the
//! body, or `POST /api/v2` with a whole envelope. Credentials come from the envelope or
//! the `Nano-Api-Key` header, the correlation id from the envelope or the
//! `Nano-Correlation-Id` header (echoed in the answer and its header). Answers are always
//! envelopes, HTTP 200, failures as `Error` messages.
//!
//! [`envelope_from_http`] is shared with the out-of-process `nano_rpc`, which forwards the
//! same envelope to the node over IPC encoding 4.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::any;
use axum::Router;
use serde_json::Value;

use super::{Response, V2Error, V2Service, CODE_GENERIC};

pub const API_KEY_HEADER: &str = "nano-api-key";
pub const CORRELATION_HEADER: &str = "nano-correlation-id";

/// The two header names, parsed when compiled: a lookup by text parses the name on
/// every request.
const API_KEY_NAME: HeaderName = HeaderName::from_static(API_KEY_HEADER);
const CORRELATION_NAME: HeaderName = HeaderName::from_static(CORRELATION_HEADER);

/// Builds the JSON envelope of an HTTP request: `name` is the path's message name for
/// `/api/v2/<name>` (the body is then the message), `None` for `/api/v2` (the body is the
/// envelope). Header values fill in credentials and correlation id the body leaves out.
/// On failure the ready `Error` answer is returned.
pub fn envelope_from_http(
    name: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Vec<u8>> {
    let header = |h: &HeaderName| header_text(headers, h);
    let corr = header(&CORRELATION_NAME);
    let fail = |msg: String, corr: Option<String>| {
        super::error_json(&V2Error::new(CODE_GENERIC, msg), corr)
    };
    // The reference reads `/api/v2/<name>` as its body wrapped in an envelope text, and
    // refuses some bodies on that text (its parser's refusals carry no correlation id).
    let wrapped = name.map(|n| {
        super::flatc_errors::wrapped_envelope(
            n,
            header(&API_KEY_NAME).as_deref(),
            corr.as_deref(),
            body,
        )
    });
    if let Some((text, start)) = &wrapped {
        if let Some(e) = super::flatc_errors::wrapped_body_refusal(text, *start) {
            return Err(super::error_json(&e, None));
        }
    }
    let mut env = match (serde_json::from_slice::<Value>(body), &wrapped, name) {
        (Ok(parsed), _, Some(n)) => serde_json::json!({"message_type": n, "message": parsed}),
        (Ok(parsed), _, None) => parsed,
        // The reference reads the wrapped text, not the body: a body that is no JSON may
        // still complete a JSON envelope there (members after the message), and a refusal
        // names its place in that text.
        (Err(e), Some((text, _)), _) => match serde_json::from_slice::<Value>(text) {
            Ok(env) => env,
            Err(_) => {
                let e = super::flatc_syntax::syntax_refusal(text).unwrap_or_else(|| {
                    V2Error::new(
                        CODE_GENERIC,
                        format!("Invalid message format: not valid JSON: {e}"),
                    )
                });
                return Err(super::error_json(&e, corr));
            }
        },
        (Err(e), None, _) => {
            return Err(super::error_json(
                &super::unparsable_envelope(body, &e),
                corr,
            ))
        }
    };
    if env.is_object() {
        let text = wrapped.as_ref().map_or(body, |(t, _)| t.as_slice());
        if let Some(e) = super::flatc_errors::refusal(text, &env) {
            return Err(super::error_json(&e, None));
        }
    }
    let Some(obj) = env.as_object_mut() else {
        // Only the whole-envelope form gets here (a named message is wrapped above).
        let text = super::not_an_envelope(body).unwrap_or_default();
        return Err(fail(format!("Invalid message format: {text}"), corr));
    };
    if let Some(k) = header(&API_KEY_NAME) {
        obj.entry("credentials").or_insert(Value::String(k));
    }
    if let Some(c) = corr {
        obj.entry("correlation_id").or_insert(Value::String(c));
    }
    Ok(env)
}

/// A header's value as text, when it is set, printable and not empty.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    header_str(headers, name).map(str::to_string)
}

/// [`header_text`] in place.
fn header_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

/// An answer in JSON text as HTTP (the text is read for its correlation id): for answers
/// that arrive as text, from the node over IPC or from a refusal.
pub fn http_answer(body: Vec<u8>) -> HttpResponse {
    let corr = answer_correlation(&body);
    with_headers(body, corr.as_deref())
}

/// The correlation id of an answer envelope in JSON text, read before the text is handed
/// to a body that owns it ([`http_answer_with_body`]).
pub fn answer_correlation(text: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(text).ok().and_then(|v| {
        v.get("correlation_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// [`http_answer`] whose text is sent by `body` (`nano_rpc` counts its answers until its
/// client has taken them, so the text travels inside the body that gives the bytes back).
pub fn http_answer_with_body(body: axum::body::Body, corr: Option<&str>) -> HttpResponse {
    with_headers(body, corr)
}

/// An answer envelope as HTTP, its correlation id taken from the envelope itself.
pub fn http_response(answer: &Response) -> HttpResponse {
    with_headers(answer.to_json(), answer.correlation_id.as_deref())
}

/// The JSON body with CORS, and the correlation id echoed in a header.
fn with_headers(body: impl IntoResponse, corr: Option<&str>) -> HttpResponse {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if let Some(v) = corr.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(CORRELATION_NAME, v);
    }
    resp
}

/// Answers a preflight or refuses a non-POST; `None` means go ahead.
pub fn preflight(method: &Method) -> Option<HttpResponse> {
    if method == Method::OPTIONS {
        let mut resp = StatusCode::OK.into_response();
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "Accept, Accept-Language, Content-Language, Content-Type, Nano-Api-Key, Nano-Correlation-Id",
            ),
        );
        return Some(resp);
    }
    if method != Method::POST {
        return Some((StatusCode::METHOD_NOT_ALLOWED, "Can only POST requests").into_response());
    }
    None
}

/// Routes `/api/v2` and `/api/v2/{message}` to `service` in this process, bodies up to
/// `max_body` bytes. Requests from web pages whose origin is not in `allowed_origins` may
/// not send state-changing messages ([`crate::browser_origin`]).
pub fn routes(service: Arc<V2Service>, max_body: usize, allowed_origins: Vec<String>) -> Router {
    Router::new()
        .route("/api/v2", any(envelope_route))
        .route("/api/v2/", any(envelope_route))
        .route("/api/v2/AccountWeight", any(account_weight_route))
        .route("/api/v2/{message}", any(message_route))
        .with_state(Gateway {
            service,
            allowed: Arc::new(allowed_origins),
            max_body,
        })
}

/// What the gateway's routes share.
#[derive(Clone)]
struct Gateway {
    service: Arc<V2Service>,
    allowed: Arc<Vec<String>>,
    /// `max_request_size`: the largest request body.
    max_body: usize,
}

/// Both routes take the whole request and read its body themselves under the same cap
/// as RPC v1 ([`crate::http::whole_body`]), and its method and headers in place: axum's
/// body-limit layer and the `HeaderMap` and `Bytes` extractors cost a boxed service, a
/// copy of every header and a collecting buffer per request.
async fn envelope_route(State(g): State<Gateway>, req: Request) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let Some(body) = crate::http::whole_body(body, g.max_body).await else {
        return crate::bounded_http::body_refused(g.max_body);
    };
    run(&g, None, &parts.method, &parts.headers, &body)
}

async fn message_route(State(g): State<Gateway>, req: Request) -> HttpResponse {
    let (mut parts, body) = req.into_parts();
    let Some(body) = crate::http::whole_body(body, g.max_body).await else {
        return crate::bounded_http::body_refused(g.max_body);
    };
    let name = match Path::<String>::from_request_parts(&mut parts, &g).await {
        Ok(Path(name)) => name,
        Err(rejection) => return rejection.into_response(),
    };
    run(&g, Some(name), &parts.method, &parts.headers, &body)
}

/// `/api/v2/AccountWeight` as sent (not percent-encoded), the frequent message, on a
/// route of its own: the `{message}` route's path parameter costs two allocations per
/// request to record, for a name this route knows. A body the fast path does not take
/// goes where [`message_route`] sends it, with the same name.
async fn account_weight_route(State(g): State<Gateway>, req: Request) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let Some(body) = crate::http::whole_body(body, g.max_body).await else {
        return crate::bounded_http::body_refused(g.max_body);
    };
    if parts.method == Method::POST {
        if let Some(answer) = account_weight(&g.service, &parts.headers, &body) {
            return answer;
        }
    }
    let name = Some("AccountWeight".to_string());
    run(&g, name, &parts.method, &parts.headers, &body)
}

/// The `/api/v2/AccountWeight` message when it is the plain `{"account": "<text>"}`
/// (nothing else in it), the frequent form.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainAccountWeight<'a> {
    #[serde(borrow)]
    account: std::borrow::Cow<'a, str>,
}

/// `/api/v2/AccountWeight` answered straight from the body's account, without the
/// envelope, its schema normalization and the `Request` maps: the same answer as
/// [`run`]'s, since for this message form [`run`] ends in [`V2Service::handle`]'s
/// `AccountWeight` answer, which [`V2Service::account_weight_text`] writes as text for
/// the same credentials, correlation id and account. `None` for every other body (another field, a second `account`, a value
/// that is not a string, not an object, not JSON), which [`run`] then answers, so its
/// error texts stay the only ones. No browser-origin check: `AccountWeight` changes
/// nothing ([`crate::browser_origin::v2_refused_type`] says so, checked here too).
fn account_weight(service: &V2Service, headers: &HeaderMap, body: &[u8]) -> Option<HttpResponse> {
    // A JSON array would also deserialize into the struct (by position).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        || crate::browser_origin::v2_refused_type("AccountWeight")
    {
        return None;
    }
    let message: PlainAccountWeight<'_> = serde_json::from_slice(body).ok()?;
    let credentials = header_str(headers, &API_KEY_NAME).unwrap_or_default();
    let corr = header_str(headers, &CORRELATION_NAME);
    let text = service.account_weight_text(credentials, corr, &message.account);
    Some(with_headers(text, corr))
}

fn run(
    g: &Gateway,
    name: Option<String>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> HttpResponse {
    if let Some(r) = preflight(method) {
        return r;
    }
    let env = match envelope_from_http(name.as_deref(), headers, body) {
        Ok(env) => env,
        Err(answer) => return http_answer(answer),
    };
    if let Some(answer) = crate::browser_origin::v2_refusal(headers, &g.allowed, &env) {
        return http_answer(answer);
    }
    // Every /api/v2 message is a lookup or a flag (one ledger read at most), so it is
    // answered inline like v1's cheap actions: a trip through the blocking pool cost
    // more than the answer itself.
    match super::Request::from_json_value(&env) {
        Ok(req) => http_response(&g.service.handle(&req, None)),
        Err((e, corr)) => http_answer(super::error_json(&e, corr)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(name: &str, body: &str) -> Result<Value, Value> {
        envelope_from_http(Some(name), &HeaderMap::new(), body.as_bytes())
            .map_err(|text| serde_json::from_slice(&text).unwrap())
    }

    #[test]
    fn a_body_is_read_inside_its_wrapper() {
        // Not JSON alone: refused where the reference's parser stops in the wrapped text
        // `{"message_type": "AccountWeight", "message": <body>}`.
        let e = envelope("AccountWeight", r#"{"account": "x",}"#).unwrap_err();
        assert_eq!(
            e["message"]["message"],
            "Invalid message format: 1: 62: error: expecting: string constant instead got: }"
        );
        // Not JSON alone, but it completes the wrapped envelope: read as it is there.
        let env = envelope(
            "AccountWeight",
            r#"{"account": "x"}, "correlation_id": "c""#,
        )
        .unwrap();
        assert_eq!(env["message"]["account"], "x");
        assert_eq!(env["correlation_id"], "c");
        // A shape the walk does not follow keeps this node's text.
        let e = envelope("IsAlive", "{'x' 1}").unwrap_err();
        let text = e["message"]["message"].as_str().unwrap();
        assert!(
            text.starts_with("Invalid message format: not valid JSON: "),
            "{text}"
        );
    }
}
