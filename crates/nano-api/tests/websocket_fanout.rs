//! Fan-out under load: many clients each receive every confirmation, and a client that
//! stops reading is disconnected (and counted) without holding up anyone else.

mod ws_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nano_node::events::{ConfirmationType, EventBus};
use ws_support::*;

/// Spawns a reader that records confirmation hashes until it has `want` of them.
fn reader(
    mut ws: Ws,
    want: usize,
    progress: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<(Vec<String>, Ws)> {
    tokio::spawn(async move {
        let mut got = Vec::with_capacity(want);
        while got.len() < want {
            let Some(m) = recv(&mut ws).await else { break };
            if m["topic"] == "confirmation" {
                got.push(m["message"]["hash"].as_str().unwrap_or("").to_string());
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }
        // The connection is handed back so the session outlives the reader.
        (got, ws)
    })
}

async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_receive_all_2000_confirmations() {
    const CLIENTS: usize = 50;
    const EVENTS: u64 = 2000;
    let bus = EventBus::new(8192);
    let srv = server(&bus, settings()).await;
    let progress = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..CLIENTS {
        let mut ws = connect(&srv).await;
        subscribe(&mut ws, "confirmation", None).await;
        readers.push(reader(ws, EVENTS as usize, progress.clone()));
    }
    let account = key(1);
    for n in 0..EVENTS {
        bus.publish(simple(n, &account, ConfirmationType::ActiveQuorum));
    }
    let expected: Vec<String> = (0..EVENTS).map(h).collect();
    for r in readers {
        assert_eq!(r.await.unwrap().0, expected);
    }
    let m = srv.metrics();
    assert_eq!(m.messages_dropped, 0);
    assert_eq!(m.stalled_disconnects, 0);
    assert_eq!(m.bus_lagged, 0);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_client_is_disconnected_and_others_get_everything() {
    const FAST: usize = 5;
    const EVENTS: u64 = 2000;
    const BATCH: u64 = 50;
    let bus = EventBus::new(8192);
    let mut st = settings();
    st.queue_capacity = 64;
    st.stall_timeout = Duration::from_millis(300);
    let srv = server(&bus, st).await;

    // Subscribes, then never reads again.
    let mut stalled = connect(&srv).await;
    subscribe(&mut stalled, "confirmation", None).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..FAST {
        let mut ws = connect(&srv).await;
        subscribe(&mut ws, "confirmation", None).await;
        readers.push(reader(ws, EVENTS as usize, progress.clone()));
    }
    // 16 KiB per message: 32 MiB per client, far more than the socket buffers hold.
    let account = key(1);
    let mut n = 0;
    while n < EVENTS {
        for _ in 0..BATCH {
            let block = state_block(&account, &key(2), "send", 16 * 1024);
            bus.publish(confirmed(
                n,
                &account,
                block,
                ConfirmationType::ActiveQuorum,
            ));
            n += 1;
        }
        // The fast clients keep up: the next batch goes out once they have this one.
        let target = FAST * n as usize;
        assert!(
            wait_for(|| progress.load(Ordering::Relaxed) >= target).await,
            "fast clients fell behind at {n}"
        );
    }
    let expected: Vec<String> = (0..EVENTS).map(h).collect();
    let mut open = Vec::new();
    for r in readers {
        let (got, ws) = r.await.unwrap();
        assert_eq!(got, expected);
        open.push(ws);
    }
    assert!(wait_for(|| srv.metrics().stalled_disconnects == 1).await);
    assert!(wait_for(|| srv.metrics().sessions_active == FAST).await);
    let m = srv.metrics();
    assert!(m.messages_dropped > 0, "{m:?}");
    assert_eq!(m.bus_lagged, 0);

    // The stalled client, reading at last, finds its stream ends short of everything.
    let mut got = 0usize;
    while let Some(m) = recv(&mut stalled).await {
        if m["topic"] == "confirmation" {
            got += 1;
        }
    }
    assert!(got < EVENTS as usize);
    srv.shutdown().await;
}
