//! The browser rule of the HTTP front doors (RPC v1 and `/api/v2`, in the node and in
//! `nano_rpc`). The RPC answers every origin (`Access-Control-Allow-Origin: *`, as the
//! reference does) so web wallets can read the ledger; but any web page the operator
//! visits can also POST to `localhost`, so a request that carries an `Origin` header
//! not listed in `config-rpc.toml` `allowed_origins` (default: none) may not change the
//! node: control actions (what `enable_control` guards) and `wallet_export` are refused,
//! and so is the v2 `ServiceStop` message. Clients that are not browsers send no
//! `Origin` and are unaffected. The reference node has no such rule.

use axum::http::{header, HeaderMap};
use serde_json::Value;

use crate::json::Req;

/// The answer to a refused request.
pub const ORIGIN_REFUSED: &str =
    "Not allowed from a web page of another origin (see allowed_origins in config-rpc.toml)";

/// True when the request comes from a web page whose origin is not in `allowed`
/// (compared exactly, as browsers send it: `scheme://host[:port]`; the opaque `null`
/// origin is never allowed).
pub fn is_foreign(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    origin == "null" || !allowed.iter().any(|a| a == origin)
}

/// The v1 requests a foreign page may not make.
pub fn v1_refused(req: &Req) -> bool {
    let action = req.get("action").and_then(Value::as_str).unwrap_or("");
    crate::actions::is_control_request(action, req) || action == "wallet_export"
}

/// The v2 messages (an envelope from [`crate::api_v2::http::envelope_from_http`]) a
/// foreign page may not send.
pub fn v2_refused(envelope: &Value) -> bool {
    // The type as the message is read: by name, by ORed names or by its code.
    crate::api_v2::schema::envelope_message_def(envelope).is_some_and(|t| v2_refused_type(t.name))
}

/// Whether a foreign page may not send v2 messages of this type.
pub fn v2_refused_type(message_type: &str) -> bool {
    message_type == "ServiceStop"
}

/// The v2 error answer (JSON) when a foreign page sends a refused `envelope`, else None.
pub fn v2_refusal(headers: &HeaderMap, allowed: &[String], envelope: &Value) -> Option<Vec<u8>> {
    if !(is_foreign(headers, allowed) && v2_refused(envelope)) {
        return None;
    }
    let corr = envelope
        .get("correlation_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let e = crate::api_v2::V2Error::new(crate::api_v2::CODE_GENERIC, ORIGIN_REFUSED);
    Some(crate::api_v2::Response::error(&e, corr).to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn service_stop_is_refused_however_its_type_is_written() {
        use serde_json::json;
        // ServiceStop is member 11; TopicConfirmation (8) | IsAlive (3) = 11.
        for t in [
            json!("ServiceStop"),
            json!(11),
            json!("TopicConfirmation IsAlive"),
        ] {
            assert!(
                v2_refused(&json!({"message_type": t, "message": {}})),
                "{t}"
            );
        }
        for t in [
            json!("IsAlive"),
            json!(3),
            json!("Error Success"),
            json!(99),
            json!("Nope"),
        ] {
            assert!(
                !v2_refused(&json!({"message_type": t, "message": {}})),
                "{t}"
            );
        }
    }

    #[test]
    fn foreign_origins() {
        let allowed = vec!["https://wallet.example".to_string()];
        let mut h = HeaderMap::new();
        assert!(!is_foreign(&h, &allowed), "no Origin: not a browser page");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://wallet.example"),
        );
        assert!(!is_foreign(&h, &allowed));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(is_foreign(&h, &allowed));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(is_foreign(&h, &allowed));
        assert!(is_foreign(&h, &[]));
    }

    #[test]
    fn refused_requests() {
        let req = |v: Value| v.as_object().cloned().unwrap();
        assert!(v1_refused(&req(serde_json::json!({"action": "stop"}))));
        assert!(v1_refused(&req(
            serde_json::json!({"action": "wallet_export", "wallet": "00"})
        )));
        assert!(v1_refused(&req(
            serde_json::json!({"action": "process", "force": "true"})
        )));
        assert!(!v1_refused(&req(
            serde_json::json!({"action": "block_count"})
        )));
        assert!(v2_refused(
            &serde_json::json!({"message_type": "ServiceStop"})
        ));
        assert!(!v2_refused(&serde_json::json!({"message_type": "IsAlive"})));
    }
}
