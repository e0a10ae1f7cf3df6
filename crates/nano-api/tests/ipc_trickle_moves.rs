//! An IPC session whose request trickles moves, with its socket, off the runtime that
//! serves every other session: it is still answered while that runtime's workers are all
//! blocked (over TCP and the Unix socket).

mod ipc_common;

use std::time::Duration;

use nano_api::ipc::{request_frame, Encoding};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

trait Socket: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Socket for T {}

/// One answer frame: a big-endian length, then the JSON.
async fn answer(s: &mut (dyn Socket + '_)) -> Value {
    let len = s.read_u32().await.unwrap() as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_trickling_session_is_served_while_the_listeners_workers_are_busy() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("listener")
        .enable_all()
        .build()
        .unwrap();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = rt.block_on(ipc_common::start(None, Duration::from_secs(10)));
    let frame = request_frame(Encoding::JsonV1, br#"{"action":"version"}"#);
    for transport in ["tcp", "unix"] {
        let mut s: Box<dyn Socket> = client.block_on(async {
            let s: Box<dyn Socket> = match transport {
                "tcp" => Box::new(tokio::net::TcpStream::connect(node.tcp).await.unwrap()),
                _ => Box::new(tokio::net::UnixStream::connect(&node.unix).await.unwrap()),
            };
            s
        });
        // The preamble's first two bytes, the rest after the session has had to wait
        // longer than a request may take to arrive.
        let first = client.block_on(async {
            s.write_all(&frame[..2]).await.unwrap();
            tokio::time::sleep(nano_http::SLOW_REQUEST + Duration::from_millis(150)).await;
            s.write_all(&frame[2..]).await.unwrap();
            answer(&mut *s).await
        });
        assert!(first["node_vendor"].is_string(), "{transport}: {first}");
        // Both listener workers blocked: only a session and socket moved to the
        // large-answer thread can answer now.
        let held = nano_http::moving::hold_workers(&rt, 2);
        let second = client.block_on(async {
            s.write_all(&frame).await.unwrap();
            tokio::time::timeout(Duration::from_secs(5), answer(&mut *s)).await
        });
        drop(held);
        let second = second.unwrap_or_else(|_| panic!("{transport}: not answered"));
        assert_eq!(second, first, "{transport}");
    }
    rt.block_on(async move { drop(node) });
}
