//! The slow-action pool serves clients apart, keyed by where the request came from: with
//! one worker held by a client's endless work generation and more of them queued behind
//! it from the same client, another client's slow call (`accounts_balances`) is served as
//! soon as the running generation ends, ahead of the flood (which is still queued), over
//! HTTP (keyed by source address) and IPC over TCP (likewise). The order is asserted, not
//! timings: under first-come first-served the legitimate call would wait behind
//! generations that never end and never answer. When the shared queue is full, another
//! client's call takes the place of the flooder's newest, which is refused. Behind the
//! forwarding `nano_rpc` front the node keys by the HTTP client it names. A client over
//! its CPU budget, or holding an answer it does not read, waits while another is served.
//! Real servers on 127.0.0.1.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::front_memory::FrontMemory;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::ipc::Encoding;
use nano_api::worker_pool::{Client, WorkerPool, BUSY};
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_ledger::Ledger;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generations the flooder has queued behind its running one.
const QUEUED: usize = 4;
/// The flooder's own queue: QUEUED fit, the next is refused.
const CLIENT_QUEUE: usize = QUEUED;
/// A work multiplier no CPU reaches in a test's lifetime: each such generation holds its
/// worker until `work_cancel`.
const ENDLESS: &str = "1000000000";
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const LEGIT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

fn hash(i: usize) -> String {
    format!("{:064X}", i + 1)
}

#[derive(Clone, Copy)]
enum Door {
    Http(SocketAddr),
    IpcTcp(SocketAddr),
}

/// One request from `source` on a new connection; the JSON answer.
async fn call(door: Door, source: Ipv4Addr, req: Value) -> Value {
    let addr = match door {
        Door::Http(a) | Door::IpcTcp(a) => a,
    };
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(source.into(), 0)).unwrap();
    let mut c = s.connect(addr).await.unwrap();
    let body = req.to_string();
    match door {
        Door::Http(_) => {
            let head = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            c.write_all(head.as_bytes()).await.unwrap();
            c.write_all(body.as_bytes()).await.unwrap();
            let mut resp = Vec::new();
            c.read_to_end(&mut resp).await.unwrap();
            let text = String::from_utf8_lossy(&resp).into_owned();
            let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{text:?}: {e}"))
        }
        Door::IpcTcp(_) => {
            let frame = nano_api::ipc::request_frame(Encoding::JsonV1, body.as_bytes());
            c.write_all(&frame).await.unwrap();
            let n = c.read_u32().await.unwrap() as usize;
            let mut out = vec![0u8; n];
            c.read_exact(&mut out).await.unwrap();
            serde_json::from_slice(&out).unwrap()
        }
    }
}

async fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    f()
}

/// Work generations running: a queued one has not registered yet. Admission alone
/// (`in_flight`) does not tell that a worker has started a job: the workers run at a
/// lower priority and may start late on a busy machine.
fn generating(ctx: &ApiContext) -> usize {
    ctx.work_in_progress.lock().unwrap().len()
}

/// The legitimate client's slow call: `accounts_balances` of genesis and enough other
/// accounts that it goes to the pool (a call of at most `nano_api::actions::INLINE_SCAN`
/// entries is answered on the request thread).
fn balances() -> Value {
    common::pooled_balances(&genesis())
}

fn genesis() -> String {
    Network::Dev.params().genesis_account.encode_account()
}

/// Genesis's balance in an answer to [`balances`].
fn genesis_balance(answer: &Value) -> &Value {
    &answer["balances"][genesis()]["balance"]
}

/// A generation at [`ENDLESS`] difficulty: it holds a worker until cancelled.
fn generate(i: usize) -> Value {
    json!({"action": "work_generate", "hash": hash(i), "multiplier": ENDLESS})
}

/// The flood, the legitimate call and the order they are served in, through `door`.
async fn legit_call_is_served_ahead_of_a_flood(door: Door, ctx: &ApiContext) {
    let pool = &ctx.slow_actions;
    let (flooder, legit) = (
        Client::from_ip(FLOODER.into()),
        Client::from_ip(LEGIT.into()),
    );
    let mut flood = vec![tokio::spawn(call(door, FLOODER, generate(0)))];
    assert!(
        wait_until(|| generating(ctx) == 1).await,
        "first generation runs"
    );
    for i in 1..=QUEUED {
        flood.push(tokio::spawn(call(door, FLOODER, generate(i))));
    }
    assert!(
        wait_until(|| pool.waiting_of(&flooder) == QUEUED).await,
        "flooder's queue: {}",
        pool.waiting_of(&flooder)
    );
    // The flooder's queue is full: its next slow call is refused at once.
    let refused = call(door, FLOODER, generate(99)).await;
    assert_eq!(refused["error"], BUSY, "{refused}");

    let legit_call = tokio::spawn(call(door, LEGIT, balances()));
    assert!(wait_until(|| pool.waiting_of(&legit) == 1).await);

    // The running generation ends: the legitimate call is next, before any of the
    // flooder's queued generations (which never end on their own).
    end_first_generation_then_expect_legit_balance(door, legit_call, "served ahead of the flood")
        .await;
    // At most one queued generation has started since (the worker's next turn).
    assert!(pool.waiting_of(&flooder) >= QUEUED - 1);
    assert!(flood[1..].iter().all(|h| !h.is_finished()));
    let first = flood.remove(0).await.unwrap();
    assert_eq!(first["error"], "Cancelled", "{first}");

    // Cancel the rest (each is cancelled once it runs).
    cancel_all(door, flood, ctx).await;
}

/// Cancels generations `0..=QUEUED` until every call of `flood` has answered
/// "Cancelled", then waits for the pool to empty.
/// Cancels the generation that holds the worker (the flood's first), then expects the
/// legitimate [`balances`] call to answer genesis's balance: it was next in line.
async fn end_first_generation_then_expect_legit_balance(
    door: Door,
    legit_call: tokio::task::JoinHandle<Value>,
    what: &str,
) {
    let cancelled = call(
        door,
        LEGIT,
        json!({"action": "work_cancel", "hash": hash(0)}),
    )
    .await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let answer = tokio::time::timeout(common::WAIT, legit_call)
        .await
        .unwrap_or_else(|_| panic!("legitimate call {what}"))
        .unwrap();
    assert_eq!(
        *genesis_balance(&answer),
        nano_core::Amount::MAX.to_string(),
        "{answer}"
    );
}

async fn cancel_all(door: Door, mut flood: Vec<tokio::task::JoinHandle<Value>>, ctx: &ApiContext) {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while !flood.is_empty() && tokio::time::Instant::now() < deadline {
        for i in 0..=QUEUED {
            call(
                door,
                LEGIT,
                json!({"action": "work_cancel", "hash": hash(i)}),
            )
            .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut rest = Vec::new();
        for h in flood {
            if h.is_finished() {
                let a = h.await.unwrap();
                assert_eq!(a["error"], "Cancelled", "{a}");
            } else {
                rest.push(h);
            }
        }
        flood = rest;
    }
    assert!(flood.is_empty(), "generations not cancelled");
    assert!(wait_until(|| ctx.slow_actions.in_flight() == 0).await);
}

fn v2_service(dir: &std::path::Path) -> Arc<V2Service> {
    let access = Arc::new(AccessControl::load(dir).unwrap());
    V2Service::new(Arc::new(context(dir)), access)
}

/// [`v2_service`] with its own slow-action pool.
fn v2_with_pool(dir: &std::path::Path, pool: WorkerPool) -> Arc<V2Service> {
    let mut ctx = context(dir);
    ctx.slow_actions = pool;
    let access = Arc::new(AccessControl::load(dir).unwrap());
    V2Service::new(Arc::new(ctx), access)
}

/// The RPC config of these tests: any port of 127.0.0.1, control allowed (`work_cancel`).
fn test_config() -> RpcConfig {
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    cfg.enable_control = true;
    cfg
}

/// An HTTP RPC server of `v2` ([`test_config`]); its address.
async fn serve_http(v2: &Arc<V2Service>) -> SocketAddr {
    nano_api::http::serve_with_v2(v2.clone(), &test_config(), std::future::pending())
        .await
        .unwrap()
}

fn context(dir: &std::path::Path) -> ApiContext {
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(Arc::new(
        Ledger::open(&dir.join("data.ldb"), Network::Dev).unwrap(),
    ));
    ctx.work_threads = 1;
    ctx.max_work_generate_multiplier = ENDLESS.parse().unwrap();
    ctx.slow_actions = WorkerPool::with_client_queue(1, 16, CLIENT_QUEUE);
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_flood_from_one_address_does_not_delay_another() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = v2_service(dir.path());
    let rpc = serve_http(&v2).await;
    legit_call_is_served_ahead_of_a_flood(Door::Http(rpc), &v2.ctx).await;
}

/// An IPC server of `v2` on a TCP port of 127.0.0.1.
async fn ipc_tcp(v2: &Arc<V2Service>) -> (IpcServer, SocketAddr) {
    let mut ipc = IpcServer::new(v2.clone());
    let opts = TransportOptions {
        io_timeout: std::time::Duration::from_secs(300),
        allow_unsafe: false,
        idle_timeout: std::time::Duration::from_secs(300),
    };
    let addr = ipc
        .bind_tcp("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    (ipc, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ipc_tcp_a_flood_from_one_address_does_not_delay_another() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = v2_service(dir.path());
    let (mut ipc, addr) = ipc_tcp(&v2).await;
    legit_call_is_served_ahead_of_a_flood(Door::IpcTcp(addr), &v2.ctx).await;
    ipc.stop();
}

/// With the shared queue full of one client's generations (one running, the queue's
/// worth waiting), another client's slow call takes the place of the flooder's newest
/// one, which is answered as refused at once, and is served when the running generation
/// ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_full_queue_evicts_the_flooders_newest_call() {
    let dir = tempfile::tempdir().unwrap();
    // The shared queue holds exactly the flooder's own queue.
    let v2 = v2_with_pool(
        dir.path(),
        WorkerPool::with_client_queue(1, QUEUED, CLIENT_QUEUE),
    );
    let door = Door::Http(serve_http(&v2).await);
    let pool = &v2.ctx.slow_actions;
    let (flooder, legit) = (
        Client::from_ip(FLOODER.into()),
        Client::from_ip(LEGIT.into()),
    );
    let mut flood = vec![tokio::spawn(call(door, FLOODER, generate(0)))];
    assert!(wait_until(|| generating(&v2.ctx) == 1).await);
    for i in 1..=QUEUED {
        flood.push(tokio::spawn(call(door, FLOODER, generate(i))));
        assert!(wait_until(|| pool.waiting_of(&flooder) == i).await);
    }
    assert_eq!(pool.in_flight(), 1 + QUEUED);

    let legit_call = tokio::spawn(call(door, LEGIT, balances()));
    // The flooder's newest generation gives its place up and is refused.
    let newest = tokio::time::timeout(common::WAIT, flood.pop().unwrap())
        .await
        .expect("evicted call answered at once")
        .unwrap();
    assert_eq!(newest["error"], BUSY, "{newest}");
    assert_eq!(
        (pool.waiting_of(&flooder), pool.waiting_of(&legit)),
        (QUEUED - 1, 1)
    );
    assert!(flood.iter().all(|h| !h.is_finished()));

    // The running generation ends: the legitimate call is answered.
    end_first_generation_then_expect_legit_balance(door, legit_call, "served").await;
    // Cancel the flooder's remaining generations as each starts.
    cancel_all(door, flood, &v2.ctx).await;
}

/// Behind the forwarding RPC process (`nano_rpc`'s HTTP front over IPC TCP, where every
/// HTTP client reaches the node from the same address), the node still queues per HTTP
/// client: the flood and the legitimate call land in queues of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nano_rpc_a_flood_from_one_address_does_not_delay_another() {
    use nano_api::ipc::client::{IpcPool, IpcTarget};
    let dir = tempfile::tempdir().unwrap();
    let v2 = v2_service(dir.path());
    let (mut ipc, ipc_addr) = ipc_tcp(&v2).await;
    // More connections than requests in flight, so none waits for one in nano_rpc.
    let connections = 4 * QUEUED;
    let pool = Arc::new(IpcPool::new(
        IpcTarget::Tcp {
            host: "127.0.0.1".into(),
            port: ipc_addr.port(),
        },
        connections,
        std::time::Duration::from_secs(300),
    ));
    let front = nano_api::ipc::forward::serve(pool, &test_config(), std::future::pending())
        .await
        .unwrap();
    legit_call_is_served_ahead_of_a_flood(Door::Http(front), &v2.ctx).await;
    ipc.stop();
}

/// A client that used its CPU budget has its next slow call held in its queue while a
/// worker is idle, and another address is served at once; the held call runs when the
/// budget allows (here: when it is lifted). Over HTTP, keyed by source address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_address_over_its_cpu_budget_waits_while_another_is_served() {
    // Enough for a scan longer than LIGHT_JOB (a light client is not held to budgets)
    // in a debug build on a fast machine: 100,000 took 16.5 ms of CPU here, under it.
    const ROWS: u64 = 400_000;
    let dir = tempfile::tempdir().unwrap();
    // One millisecond a second: a scan of ROWS receivables leaves seconds of debt.
    let budgets = nano_api::worker_pool::Budgets {
        client: Some(std::time::Duration::from_millis(1)),
        pool: None,
    };
    let v2 = v2_with_pool(
        dir.path(),
        WorkerPool::with_client_queue(2, 16, CLIENT_QUEUE).with_budgets(budgets),
    );
    let target = nano_core::PublicKey([7u8; 32]);
    common::put_receivable_rows(v2.ctx.ledger.as_ref().unwrap(), target, ROWS);
    let door = Door::Http(serve_http(&v2).await);
    let pool = &v2.ctx.slow_actions;
    let balance = balances();
    let flooder = Client::from_ip(FLOODER.into());

    // The rows' sends are not in the ledger: unconfirmed and of no election, listed
    // only when asked.
    let scan = json!({"action": "receivable", "account": target.encode_account(),
        "count": ROWS.to_string(), "include_only_confirmed": "false", "include_active": "true"});
    let listed = call(door, FLOODER, scan).await;
    let text = listed.to_string();
    assert_eq!(
        listed["blocks"].as_array().map(Vec::len),
        Some(ROWS as usize),
        "{}",
        &text[..text.len().min(300)]
    );
    // Charged once the worker is back from the scan, just after its answer.
    assert!(wait_until(|| pool.charged() > std::time::Duration::from_millis(1)).await);
    assert!(wait_until(|| pool.in_flight() == 0).await);

    // Both workers idle, yet the flooder's cheap call waits for its budget.
    let held = tokio::spawn(call(door, FLOODER, balance.clone()));
    assert!(wait_until(|| pool.waiting_of(&flooder) == 1).await);
    let other = call(door, LEGIT, balance.clone()).await;
    assert_eq!(
        *genesis_balance(&other),
        nano_core::Amount::MAX.to_string(),
        "{other}"
    );
    assert_eq!(pool.waiting_of(&flooder), 1, "still held by its budget");
    assert!(!held.is_finished());

    pool.set_budgets(nano_api::worker_pool::Budgets::NONE);
    let answer = tokio::time::timeout(common::WAIT, held)
        .await
        .expect("held call runs once the budget is lifted")
        .unwrap();
    assert_eq!(
        *genesis_balance(&answer),
        nano_core::Amount::MAX.to_string(),
        "{answer}"
    );
}

/// An answer not yet taken by its connection counts against its client's answer memory:
/// an address that asked for a large answer and does not read it has its next slow call
/// wait in its queue while another address is served at once; when the unread
/// connection closes, the memory is given back and the waiting call runs. Over HTTP,
/// keyed by source address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_address_holding_an_unread_answer_waits_while_another_is_served() {
    // A `receivable` answer of about 13 MB: more than the loopback socket buffers and
    // hyper's write buffer take from an unread connection, so megabytes stay held.
    const ROWS: u64 = 200_000;
    const CLIENT_LIMIT: usize = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let memory = nano_api::worker_pool::AnswerMemory {
        client: Some(CLIENT_LIMIT),
        ..nano_api::worker_pool::AnswerMemory::NONE
    };
    let v2 = v2_with_pool(
        dir.path(),
        WorkerPool::with_client_queue(2, 16, CLIENT_QUEUE).with_answer_memory(memory),
    );
    let target = nano_core::PublicKey([7u8; 32]);
    common::put_receivable_rows(v2.ctx.ledger.as_ref().unwrap(), target, ROWS);
    let addr = serve_http(&v2).await;
    let door = Door::Http(addr);
    let pool = &v2.ctx.slow_actions;
    let flooder = Client::from_ip(FLOODER.into());

    // The flooder asks and never reads.
    let unread = ask_unread(addr, &target, ROWS).await;
    assert!(wait_until(|| pool.held_answer_bytes(&flooder).1 > 0).await);
    // The connection takes what the kernel and hyper buffer, then stops: the rest is
    // still held (polled for a while, it never falls to the limit).
    let answer_len = pool.held_answer_bytes(&flooder).1;
    assert!(answer_len > 10_000_000, "{answer_len}");
    assert!(wait_until(|| pool.in_flight() == 0).await);
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (total, own) = pool.held_answer_bytes(&flooder);
        assert!(own >= CLIENT_LIMIT, "{own}");
        assert_eq!(total, own);
    }

    // Its next slow call waits while a worker is idle; another address is served.
    let held = tokio::spawn(call(door, FLOODER, balances()));
    assert!(wait_until(|| pool.waiting_of(&flooder) == 1).await);
    let other = call(door, LEGIT, balances()).await;
    assert_eq!(
        *genesis_balance(&other),
        nano_core::Amount::MAX.to_string(),
        "{other}"
    );
    assert_eq!(
        pool.waiting_of(&flooder),
        1,
        "still held by its unread answer"
    );
    assert!(!held.is_finished());

    // Closed unread: the memory comes back and the waiting call runs.
    drop(unread);
    let answer = tokio::time::timeout(common::WAIT, held)
        .await
        .expect("the waiting call runs once the unread answer is gone")
        .unwrap();
    assert_eq!(
        *genesis_balance(&answer),
        nano_core::Amount::MAX.to_string(),
        "{answer}"
    );
    assert!(wait_until(|| pool.held_answer_bytes(&flooder) == (0, 0)).await);
}

/// Bounding the answer memory alone lets a client that never reads keep the total full,
/// so every other client's large answers wait for as long as the connection stays open.
/// With a minimum rate, the server closes a connection that has not taken its answer by
/// the grace plus the answer's size at that rate: the memory comes back and the waiting
/// call of another address runs, without the unread client doing anything; the unread
/// client's own next call then waits out its cooldown while the other is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_unread_answer_is_closed_at_its_deadline_and_the_waiting_call_runs() {
    // 13 MB at 64 MiB/s is 0.2 s; the grace leaves time for the other address's large
    // answer to be refused and its next call to wait.
    waiting_call_runs_once_the_unread_answer_is_closed(nano_api::worker_pool::AnswerMemory {
        client: None,
        total: Some(TOTAL),
        min_rate: Some(64 << 20),
        grace: std::time::Duration::from_secs(8),
        cooldown: std::time::Duration::from_secs(300),
    })
    .await;
}

/// While another client's call waits for the total, the pool does not wait for the unread
/// answer's deadline (here 1 s + 13 MB at 384 KiB/s = 33 s, past [`common::WAIT`]): it
/// closes the answer as soon as it is behind that rate, once the bytes the sockets took
/// (a few MB) are used up, well within the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_waiting_call_closes_the_unread_answer_behind_the_rate_before_its_deadline() {
    waiting_call_runs_once_the_unread_answer_is_closed(nano_api::worker_pool::AnswerMemory {
        client: None,
        total: Some(TOTAL),
        min_rate: Some(384 << 10),
        grace: std::time::Duration::from_secs(1),
        cooldown: std::time::Duration::from_secs(300),
    })
    .await;
}

/// The answer memory's total in the tests of unread answers: less than one 13 MB answer.
const TOTAL: usize = 1024 * 1024;

/// An address asks for a 13 MB answer and never reads it, holding the total (`memory`).
/// Another address, holding nothing, is still served small answers, but its large one is
/// refused, and its next one waits, then runs once the server closes the unread
/// connection (by its deadline or as furthest behind the rate); the unread client then
/// cools off.
async fn waiting_call_runs_once_the_unread_answer_is_closed(
    memory: nano_api::worker_pool::AnswerMemory,
) {
    const ROWS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let v2 = v2_with_pool(
        dir.path(),
        WorkerPool::with_client_queue(2, 16, CLIENT_QUEUE).with_answer_memory(memory),
    );
    let target = nano_core::PublicKey([7u8; 32]);
    common::put_receivable_rows(v2.ctx.ledger.as_ref().unwrap(), target, ROWS);
    let addr = serve_http(&v2).await;
    let door = Door::Http(addr);
    let pool = &v2.ctx.slow_actions;
    let (flooder, legit) = (
        Client::from_ip(FLOODER.into()),
        Client::from_ip(LEGIT.into()),
    );

    let mut unread = ask_unread(addr, &target, ROWS).await;
    assert!(wait_until(|| pool.held_answer_bytes(&flooder).1 > TOTAL).await);
    assert!(wait_until(|| pool.in_flight() == 0).await);
    // Everyone is held by the total: the other address, holding nothing, is served
    // small answers; a large one is refused.
    let large = small_served_large_refused(door, &target, ROWS).await;
    // Asked again, it waits for room.
    let waiting = tokio::spawn(call(door, LEGIT, large));
    assert!(wait_until(|| pool.waiting_of(&legit) == 1).await);
    assert!(!waiting.is_finished());

    // The server closes the unread connection; the call then runs.
    let answer = tokio::time::timeout(common::WAIT, waiting)
        .await
        .expect("the waiting call runs once the unread connection is closed")
        .unwrap();
    let listed = answer["blocks"].as_array().map_or(0, |b| b.len());
    assert_eq!(listed as u64, ROWS);
    assert!(wait_until(|| pool.held_answer_bytes(&flooder) == (0, 0)).await);
    // Closed late, the flooder cools off: its next call waits while the other address
    // is served again.
    assert!(pool.cooling_off(&flooder));
    let again = tokio::spawn(call(door, FLOODER, balances()));
    assert!(wait_until(|| pool.waiting_of(&flooder) == 1).await);
    let other = call(door, LEGIT, balances()).await;
    assert_eq!(
        *genesis_balance(&other),
        nano_core::Amount::MAX.to_string(),
        "{other}"
    );
    assert!(!again.is_finished() && pool.waiting_of(&flooder) == 1);
    // What the unread connection can still read is what its buffers held: it ends short
    // of the 13 MB answer.
    let got = read_until_closed(&mut unread).await;
    assert!(got < 10_000_000, "read {got} bytes of a closed answer");
}

/// A service ([`v2_service`]) whose ledger holds `rows` receivables of one account; that
/// account.
fn v2_with_receivables(dir: &std::path::Path, rows: u64) -> (Arc<V2Service>, nano_core::PublicKey) {
    let v2 = v2_service(dir);
    let target = nano_core::PublicKey([7u8; 32]);
    common::put_receivable_rows(v2.ctx.ledger.as_ref().unwrap(), target, rows);
    (v2, target)
}

/// `receivable` listing all `rows` receivables of `target` (about 13 MB at 200,000).
fn receivable_all(target: &nano_core::PublicKey, rows: u64) -> Value {
    json!({"action": "receivable", "account": target.encode_account(),
        "count": rows.to_string(), "include_only_confirmed": "false", "include_active": "true"})
}

/// While the flooder's unread answer holds the total: [`LEGIT`], holding nothing, is
/// served a small answer and refused a large one ([`receivable_all`]); that request.
async fn small_served_large_refused(door: Door, target: &nano_core::PublicKey, rows: u64) -> Value {
    let other = call(door, LEGIT, balances()).await;
    assert_eq!(
        *genesis_balance(&other),
        nano_core::Amount::MAX.to_string(),
        "{other}"
    );
    let large = receivable_all(target, rows);
    let answer = call(door, LEGIT, large.clone()).await;
    let len = answer.to_string().len();
    assert_eq!(
        answer["error"].as_str(),
        Some(BUSY),
        "not refused: {len} bytes"
    );
    large
}

/// Sends the flooder's `receivable` over `rows` receivables of `target` on a new
/// connection to `addr`, whose answer the caller then does not read.
async fn ask_unread(
    addr: SocketAddr,
    target: &nano_core::PublicKey,
    rows: u64,
) -> tokio::net::TcpStream {
    send_unread(addr, "/", &receivable_all(target, rows).to_string()).await
}

/// Behind `nano_rpc`, which holds the node's answer until its HTTP client takes it: an
/// address holding an unread answer there is refused at once (the pool's busy text) while
/// another address is served, and is served again once its unread connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nano_rpc_an_address_holding_an_unread_answer_is_refused_while_another_is_served() {
    // About 13 MB: more than the sockets and hyper take from an unread connection.
    const ROWS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let (v2, target) = v2_with_receivables(dir.path(), ROWS);
    let mut cfg = test_config();
    cfg.slow_action_client_answer_memory = 1024 * 1024;
    let (mut ipc, front) = nano_rpc_front(&v2, &cfg).await;
    let door = Door::Http(front);
    let refused = |a: &Value| a["error"].as_str() == Some(BUSY);

    let unread = ask_unread(front, &target, ROWS).await;
    // Served until the answer reaches the front, refused from then on.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let mut answer = call(door, FLOODER, balances()).await;
    while !refused(&answer) && tokio::time::Instant::now() < deadline {
        assert_eq!(
            *genesis_balance(&answer),
            nano_core::Amount::MAX.to_string(),
            "{answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        answer = call(door, FLOODER, balances()).await;
    }
    assert!(refused(&answer), "{answer}");
    let other = call(door, LEGIT, balances()).await;
    assert_eq!(
        *genesis_balance(&other),
        nano_core::Amount::MAX.to_string(),
        "{other}"
    );
    assert!(refused(&call(door, FLOODER, balances()).await));

    // Closed unread: served again.
    drop(unread);
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let mut answer = call(door, FLOODER, balances()).await;
    while refused(&answer) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        answer = call(door, FLOODER, balances()).await;
    }
    assert_eq!(
        *genesis_balance(&answer),
        nano_core::Amount::MAX.to_string(),
        "{answer}"
    );
    ipc.stop();
}

/// `nano_rpc` holds the node's answer until its own HTTP client takes it, under the same
/// minimum rate: an address that does not read is refused while its answer is held; the
/// front closes the unread connection at its deadline (the grace, 10 s, plus the answer
/// at the configured rate) though the client never closes it, and the address is then
/// refused for its cooldown while another is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nano_rpc_an_unread_answer_is_closed_at_its_deadline() {
    const ROWS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let (v2, target) = v2_with_receivables(dir.path(), ROWS);
    let mut cfg = test_config();
    cfg.slow_action_client_answer_memory = 1024 * 1024;
    // 13 MB at 64 MiB/s: the deadline is the grace and a fifth of a second.
    cfg.slow_action_answer_min_rate = 64 << 20;
    let (mut ipc, front) = nano_rpc_front(&v2, &cfg).await;
    let door = Door::Http(front);
    let refused = |a: &Value| a["error"].as_str() == Some(BUSY);

    let mut unread = ask_unread(front, &target, ROWS).await;
    let until = tokio::time::Instant::now() + common::WAIT;
    let mut answer = call(door, FLOODER, balances()).await;
    while !refused(&answer) && tokio::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        answer = call(door, FLOODER, balances()).await;
    }
    assert!(refused(&answer), "held by its unread answer: {answer}");
    // Still unread past its deadline (armed before the front refused: 10 s and a fifth),
    // with a margin for a loaded machine; reading earlier would take the whole answer.
    tokio::time::sleep(std::time::Duration::from_secs(15)).await;
    let got = read_until_closed(&mut unread).await;
    assert!(got < 10_000_000, "read {got} bytes of a closed answer");
    // Its memory is given back, but the address cools off (a minute by default): still
    // refused, while another address is served.
    assert!(refused(&call(door, FLOODER, balances()).await));
    let other = call(door, LEGIT, balances()).await;
    assert_eq!(
        *genesis_balance(&other),
        nano_core::Amount::MAX.to_string(),
        "{other}"
    );
    assert!(refused(&call(door, FLOODER, balances()).await));
    ipc.stop();
}

/// Behind `nano_rpc`, while an address holds the total with an answer it does not read,
/// another address that holds nothing is still answered, but only small answers (a large
/// one is refused); the address holding the total waits in line, and the front closes its
/// unread answer once it is behind the rate, well before its deadline (1 s + 13 MB at
/// 256 KiB/s = 49 s, past [`common::WAIT`]), then refuses it for its cooldown, and the
/// large answer refused before is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nano_rpc_the_total_held_by_an_unread_answer_leaves_small_answers_to_others() {
    const ROWS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let (v2, target) = v2_with_receivables(dir.path(), ROWS);
    let memory = FrontMemory::new(
        nano_api::worker_pool::AnswerMemory {
            client: None,
            total: Some(TOTAL),
            min_rate: Some(256 << 10),
            grace: std::time::Duration::from_secs(1),
            cooldown: std::time::Duration::from_secs(300),
        },
        FRONT_IPC_CONNECTIONS,
    );
    let (mut ipc, front) = nano_rpc_front_with(&v2, &test_config(), memory.clone()).await;
    let door = Door::Http(front);
    let refused = |a: &Value| a["error"].as_str() == Some(BUSY);

    let mut unread = ask_unread(front, &target, ROWS).await;
    let flooder = Client::from_ip(FLOODER.into());
    assert!(wait_until(|| memory.held_bytes(&flooder).0 > TOTAL).await);

    // Everyone is held by the total: another address is answered, small answers only.
    let large = small_served_large_refused(door, &target, ROWS).await;
    assert_eq!(memory.held_bytes(&Client::from_ip(LEGIT.into())).0, 0);

    // The address holding the total waits in line; meanwhile its unread answer falls
    // behind the rate and is closed.
    let waiting = tokio::spawn(call(door, FLOODER, balances()));
    assert!(wait_until(|| memory.waiting() == 1).await);
    assert!(
        wait_until(|| memory.held_bytes(&flooder) == (0, 0)).await,
        "closed before its deadline"
    );
    let got = read_until_closed(&mut unread).await;
    assert!(got < 10_000_000, "read {got} bytes of a closed answer");
    // Closed late, the address cools off: its waiting call is refused.
    let answer = tokio::time::timeout(common::WAIT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(refused(&answer), "{answer}");
    // There is room now: the large answer refused before is served.
    let answer = call(door, LEGIT, large).await;
    let listed = answer["blocks"].as_array().map_or(0, |b| b.len());
    assert_eq!(listed as u64, ROWS);
    ipc.stop();
}

/// An answer's size is known only once the node has sent it, so requests arriving together
/// under the total would each bring one: `nano_rpc` lets at most one request per IPC
/// connection through before their answers count, the others wait in line, and of the
/// answers that come back once the total is held only small ones are handed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nano_rpc_unread_requests_arriving_together_bring_one_answer_per_ipc_connection() {
    const ROWS: u64 = 200_000;
    const REQUESTS: usize = 3 * FRONT_IPC_CONNECTIONS;
    let dir = tempfile::tempdir().unwrap();
    let (v2, target) = v2_with_receivables(dir.path(), ROWS);
    let memory = FrontMemory::new(
        nano_api::worker_pool::AnswerMemory {
            client: None,
            total: Some(TOTAL),
            ..nano_api::worker_pool::AnswerMemory::NONE
        },
        FRONT_IPC_CONNECTIONS,
    );
    let (mut ipc, front) = nano_rpc_front_with(&v2, &test_config(), memory.clone()).await;
    let mut unread = Vec::new();
    for _ in 0..REQUESTS {
        unread.push(ask_unread(front, &target, ROWS).await);
    }
    let flooder = Client::from_ip(FLOODER.into());
    let in_line = REQUESTS - FRONT_IPC_CONNECTIONS;
    // About 13 MB each: the first answer back holds the total alone.
    let answer = 12_000_000;
    assert!(
        wait_until(|| memory.waiting() >= in_line && memory.held_bytes(&flooder).0 > answer).await,
        "{} waiting, held {:?}",
        memory.waiting(),
        memory.held_bytes(&flooder)
    );
    // The other answers let through came back while the total was held: refused, not
    // counted; and the client holding the total waits for room.
    let (held, _) = memory.held_bytes(&flooder);
    assert!(held < 2 * answer, "held {held}");
    assert!(memory.waiting() >= in_line);
    drop(unread);
    ipc.stop();
}

/// Behind `nano_rpc`, a `/api/v2` answer counts in the front's memory like a v1 answer: an
/// envelope echoes its request's correlation id, so an address asking with a long one and
/// not reading holds it; over its own limit it is refused (an `Error` envelope with the
/// busy text) while another address is answered, and served again once its unread
/// connection closes and the bytes are given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nano_rpc_an_unread_v2_answer_counts_in_the_front_memory() {
    const CLIENT_LIMIT: usize = 1024 * 1024;
    // Echoed in the answer's body and its header: more than the sockets take unread.
    const CORRELATION: usize = 8 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let v2 = v2_service(dir.path());
    let memory = FrontMemory::new(
        nano_api::worker_pool::AnswerMemory {
            client: Some(CLIENT_LIMIT),
            ..nano_api::worker_pool::AnswerMemory::NONE
        },
        FRONT_IPC_CONNECTIONS,
    );
    let (mut ipc, front) = nano_rpc_front_with(&v2, &test_config(), memory.clone()).await;
    let is_alive = json!({"message_type": "IsAlive", "message": {}});
    let alive = |a: &Value| a["message_type"] == "IsAlive";

    let long = json!({"message_type": "IsAlive", "message": {},
        "correlation_id": "c".repeat(CORRELATION)});
    let unread = send_unread(front, "/api/v2", &long.to_string()).await;
    let flooder = Client::from_ip(FLOODER.into());
    assert!(
        wait_until(|| memory.held_bytes(&flooder).0 > CORRELATION).await,
        "held {:?}",
        memory.held_bytes(&flooder)
    );

    let refused = call_v2(front, FLOODER, &is_alive).await;
    assert_eq!(refused["message_type"], "Error", "{refused}");
    assert_eq!(
        refused["message"]["message"].as_str(),
        Some(BUSY),
        "{refused}"
    );
    let other = call_v2(front, LEGIT, &is_alive).await;
    assert!(alive(&other), "{other}");
    assert_eq!(memory.held_bytes(&Client::from_ip(LEGIT.into())).0, 0);

    drop(unread);
    assert!(wait_until(|| memory.held_bytes(&flooder) == (0, 0)).await);
    let again = call_v2(front, FLOODER, &is_alive).await;
    assert!(alive(&again), "{again}");
    ipc.stop();
}

/// One `/api/v2` envelope from `source` on a new connection to `addr`; the answer.
async fn call_v2(addr: SocketAddr, source: Ipv4Addr, envelope: &Value) -> Value {
    let mut c = send_unread_from(
        addr,
        source,
        "/api/v2",
        &envelope.to_string(),
        "Connection: close\r\n",
    )
    .await;
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Posts `body` to `path` of `addr` from [`FLOODER`] on a new connection, which the caller
/// then does not read.
async fn send_unread(addr: SocketAddr, path: &str, body: &str) -> tokio::net::TcpStream {
    send_unread_from(addr, FLOODER, path, body, "").await
}

/// Posts `body` to `path` of `addr` from `source`, with `extra` header lines; the
/// connection.
async fn send_unread_from(
    addr: SocketAddr,
    source: Ipv4Addr,
    path: &str,
    body: &str,
    extra: &str,
) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(source.into(), 0)).unwrap();
    let mut c = s.connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(body.as_bytes()).await.unwrap();
    c
}

/// The IPC connections of the tests' `nano_rpc` fronts.
const FRONT_IPC_CONNECTIONS: usize = 4;

/// A `nano_rpc` front under `cfg` forwarding to an IPC server of `v2`: the IPC server (to
/// stop) and the front's address.
async fn nano_rpc_front(v2: &Arc<V2Service>, cfg: &RpcConfig) -> (IpcServer, SocketAddr) {
    let memory = FrontMemory::new(cfg.answer_memory(), FRONT_IPC_CONNECTIONS);
    nano_rpc_front_with(v2, cfg, memory).await
}

/// [`nano_rpc_front`] with the front's answer memory set apart from `cfg`.
async fn nano_rpc_front_with(
    v2: &Arc<V2Service>,
    cfg: &RpcConfig,
    memory: Arc<FrontMemory>,
) -> (IpcServer, SocketAddr) {
    use nano_api::ipc::client::{IpcPool, IpcTarget};
    let (ipc, ipc_addr) = ipc_tcp(v2).await;
    let pool = Arc::new(IpcPool::new(
        IpcTarget::Tcp {
            host: "127.0.0.1".into(),
            port: ipc_addr.port(),
        },
        FRONT_IPC_CONNECTIONS,
        std::time::Duration::from_secs(300),
    ));
    let front =
        nano_api::ipc::forward::serve_with_memory(pool, cfg, memory, std::future::pending())
            .await
            .unwrap();
    (ipc, front)
}

/// Reads `s` until the server closes it (or fails it); the bytes read. Panics if it is
/// still open after [`common::WAIT`] without a byte.
async fn read_until_closed(s: &mut tokio::net::TcpStream) -> usize {
    let mut got = 0usize;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match tokio::time::timeout(common::WAIT, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("the connection was not closed"),
        }
    }
}
