//! Bootstrap throughput over loopback with full validation: a serving node holding a
//! generated dev ledger, a fresh node syncing it (ascending, then legacy), blocks per
//! second until the fresh ledger has every block.
//!
//! `cargo bench -p nano-node --bench bootstrap` runs 50,000 and 1,000,000 blocks;
//! `NANO_BOOTSTRAP_BENCH_SIZES=50000` picks sizes, `NANO_BOOTSTRAP_BENCH_MODES=ascending`
//! picks modes. Generated ledgers are cached under `target/bootstrap-bench/`, or
//! `NANO_BOOTSTRAP_BENCH_DIR` (the synced copies go there too, and are deleted).
//!
//! The syncing node runs in a child process (this binary again), so its peak RSS is its
//! own, not the serving node's. Each run prints blocks/s over the whole run, the rate
//! over the first million blocks, the synced ledger's bytes per block and the child's
//! peak RSS, and writes `sync-<blocks>-<mode>.csv` (seconds, blocks every second) and
//! `.svg` (blocks synced against time) beside the ledgers. Then a fresh child opens the
//! generated ledger (open time, RSS) and validates every block with the code of
//! `--validate_blocks` (blocks/s); `NANO_BOOTSTRAP_BENCH_VALIDATE=0` skips that.
//! `NANO_BOOTSTRAP_BENCH_KEEP=1` keeps the synced ledger (its path is printed) for
//! `scripts/ledger-pages.py`, which shows where its bytes go;
//! `NANO_BOOTSTRAP_BENCH_BATCH=<n>` sets the syncing node's blocks per write
//! transaction (the file's free pages and LMDB's dirty-page memory follow it). The
//! child also reports the peak entry count of every container the node counts (RPC
//! `stats` `objects`), sampled every second, and every minute the counts at that
//! moment (those of at least 1,000 entries). `NANO_BOOTSTRAP_BENCH_WRAP="heaptrack -o
//! <file>"` runs the children under a command (a heap profiler) instead of directly.
//! `NANO_BOOTSTRAP_BENCH_STOP=<n>` ends the sync once the syncing ledger holds `n`
//! blocks (the first part of a large ledger's sync, cheaply);
//! `NANO_BOOTSTRAP_BENCH_TRIM=0` keeps the syncing child from giving its allocator's
//! free pages back (the daemon does, see `nano_node::heap_trim`);
//! `NANO_BOOTSTRAP_BENCH_BLOCKING_MAX=<n>` sets the syncing node's
//! `account_sets.blocking_max` (so the blocked set fills early);
//! `NANO_BOOTSTRAP_BENCH_SYNC=<mode>` sets the syncing node's `node.lmdb.sync` (what an
//! operator may trade of a commit's durability for its disk wait). The CSV's `received`
//! column counts the blocks the syncing node received (re-downloads show as received
//! running ahead of blocks). Every 10 s the child prints its pull counters with the
//! ascending client's `unblock.*` counters: accounts blocked, how they got free (the
//! processor's report of their send or the fallback pass), the wait from blocking to
//! freeing of a sample of them per way, and the accounts blocked at that moment; and,
//! sampled at every poll, what held the pulls back (`client.*`: requests in flight and
//! the share of samples at `channel_limit`, blocks waiting for the processor and the
//! share at `block_processor_threshold`, accounts queued).
//!
//! What the sync pays per block in bytes and waits, load-independently: every 10 s
//! (a log line and a row of `sync-<blocks>-<mode>-io.csv`) and per million blocks (the
//! summary) the child reports the syncing process's `/proc` I/O (bytes written and read,
//! write calls, page faults) and the block processor's writer thread: its CPU, its
//! run-queue wait and the rest of the wall time it was blocked (`schedstat`), and, from
//! the processor's own phase counters, how that time splits between waiting for
//! blocks, processing them and the LMDB commit (wall, CPU, page faults, blocking waits
//! and pages written per commit). At each million it prints every table's B-tree
//! (depth, branch, leaf and overflow pages, entries).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::Network;
use nano_ledger::{Ledger, StoreOptions};
use nano_node::bootstrap::test_ledger;
use nano_node::node::{Node, NodeOptions};
use nano_node::DaemonConfig;

fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NANO_BOOTSTRAP_BENCH_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("bootstrap-bench")
}

fn store_options() -> StoreOptions {
    StoreOptions {
        map_size: 64 << 30,
        ..StoreOptions::default()
    }
}

/// The cached ledger of `blocks` blocks (generated on first use).
fn cached_ledger(blocks: u64) -> PathBuf {
    let dir = cache_dir().join(format!("ledger-{blocks}"));
    let done = dir.join("complete");
    let path = dir.join("data.ldb");
    if done.exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let ledger = Ledger::open_with(&path, Network::Dev, &store_options()).unwrap();
    let g = test_ledger::generate(&ledger, blocks, (blocks / 8).max(100) as u32, |n| {
        eprint!("\rgenerating: {n} blocks");
    })
    .unwrap();
    drop(ledger);
    eprintln!(
        "\rgenerated {} blocks / {} accounts in {:.1} s",
        g.blocks,
        g.accounts,
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&done, format!("{} {}", g.blocks, g.accounts)).unwrap();
    path
}

fn config(peers: Vec<String>) -> nano_node::NodeConfig {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.preconfigured_peers = peers;
    c.allow_local_peers = true;
    c.enable_udp = false;
    c.enable_voting = false;
    c.lmdb.map_size = 64 << 30;
    c
}

fn count(l: &Ledger) -> u64 {
    let t = l.read_txn().unwrap();
    l.block_count(&t).unwrap()
}

/// A `/proc/self/status` figure in bytes (`VmHWM`: peak resident set, which counts
/// the ledger file's pages LMDB has mapped in; `RssAnon`: resident heap and stacks now).
fn status_bytes(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A bench setting from the environment (none when unset or not a number).
fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

fn peak_rss() -> u64 {
    status_bytes("VmHWM:")
}

/// Child process: the syncing node. Prints `sample <secs> <blocks> <anonymous rss>` every
/// second, then
/// `done <secs> <blocks> <peak rss> <ledger file bytes> <received> <duplicates> <peak
/// anonymous rss, sampled every second>`.
async fn child_sync(peer: String, dir: PathBuf, total: u64, ascending: bool) {
    use std::io::Write;
    let mut co = NodeOptions::new(config(vec![peer]), Network::Dev, &dir);
    co.bootstrap.enable_ascending = ascending;
    co.bootstrap.interval = Duration::from_secs(1);
    if let Some(n) = env_usize("NANO_BOOTSTRAP_BENCH_BATCH") {
        co.tune = Some(Arc::new(move |c| c.batch_max = n));
    }
    if let Some(n) = env_usize("NANO_BOOTSTRAP_BENCH_BLOCKING_MAX") {
        co.bootstrap.blocking_max = n;
    }
    if let Ok(mode) = std::env::var("NANO_BOOTSTRAP_BENCH_SYNC") {
        assert!(
            nano_store::LmdbSync::from_name(&mode).is_some(),
            "NANO_BOOTSTRAP_BENCH_SYNC={mode} is not an lmdb.sync mode"
        );
        co.config.lmdb.sync = mode;
    }
    let total = env_usize("NANO_BOOTSTRAP_BENCH_STOP").map_or(total, |n| total.min(n as u64));
    let mut supply = SupplySamples::new(&co.bootstrap);
    // As the daemon does; `NANO_BOOTSTRAP_BENCH_TRIM=0` leaves the freed memory in the
    // allocator (to measure what trimming gives back).
    if std::env::var("NANO_BOOTSTRAP_BENCH_TRIM").as_deref() != Ok("0") {
        nano_node::heap_trim::start_heap_trimmer();
    }
    let started = Instant::now();
    let client = Node::start_with(co).await.unwrap();
    let limit = Duration::from_secs(60) + Duration::from_millis(total); // 1 ms per block
    let mut out = std::io::stdout();
    let mut next = Duration::ZERO;
    let mut got = count(&client.ledger);
    let mut anon = 0u64;
    // Peak entry count of each container the node reports (RPC `stats` `objects`), to
    // see which in-memory structure the anonymous RSS follows.
    let mut peaks: std::collections::BTreeMap<String, u64> = Default::default();
    // The containers' counts now, printed every minute: a run stopped part-way (a long
    // sync) still shows which structures grew with the ledger and which held.
    let mut next_listing = Duration::from_secs(60);
    // The pull and unblock counters (the blocked accounts now among them) every 10 s.
    let mut next_pulls = Duration::from_secs(10);
    // The writer's and the process's I/O counters every 10 s and at each million.
    let mut next_io = Duration::ZERO;
    let mut next_mark = IO_MARK_STEP;
    let mut marked = 0u64;
    while got < total && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
        got = count(&client.ledger);
        if let Some(b) = client.bootstrap.as_ref() {
            supply.sample(&b.status());
        }
        if started.elapsed() >= next_io {
            next_io += IO_INTERVAL;
            let _ = writeln!(
                out,
                "io now {:.3} {got} {}",
                started.elapsed().as_secs_f64(),
                io_counters(&client)
            );
        }
        if got >= next_mark {
            while got >= next_mark {
                next_mark += IO_MARK_STEP;
            }
            marked = got;
            let _ = writeln!(
                out,
                "io mark {:.3} {got} {}",
                started.elapsed().as_secs_f64(),
                io_counters(&client)
            );
            let _ = writeln!(out, "tables {got} {}", table_stats(&client.ledger));
        }
        if started.elapsed() >= next {
            next += Duration::from_secs(1);
            let now_anon = status_bytes("RssAnon:");
            anon = anon.max(now_anon);
            let info = client.container_info().to_json();
            container_peaks(&info, "", &mut peaks);
            if started.elapsed() >= next_listing {
                next_listing += Duration::from_secs(60);
                let mut now = Default::default();
                container_peaks(&info, "", &mut now);
                let big: Vec<String> = now
                    .iter()
                    .filter(|(_, v)| **v >= 1000)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "containers_now {:.0} {got} {now_anon} {}",
                    started.elapsed().as_secs_f64(),
                    big.join(" ")
                );
            }
            if started.elapsed() >= next_pulls {
                next_pulls += Duration::from_secs(10);
                let _ = writeln!(
                    out,
                    "pulls_now {:.0} {got} {} {} {}",
                    started.elapsed().as_secs_f64(),
                    pull_counts(&client),
                    supply.take(),
                    drop_counts(&client, "client")
                );
            }
            let received = client
                .bootstrap
                .as_ref()
                .map_or(0, |b| b.status().blocks_received);
            let _ = writeln!(
                out,
                "sample {:.3} {got} {now_anon} {received}",
                started.elapsed().as_secs_f64()
            );
            let _ = out.flush();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    // The end as a mark too (the last part-million of a stopped or smaller run).
    if got > marked {
        let _ = writeln!(out, "io mark {secs:.3} {got} {}", io_counters(&client));
        let _ = writeln!(out, "tables {got} {}", table_stats(&client.ledger));
    }
    let st = client.bootstrap.as_ref().unwrap().status();
    let pulls = pull_counts(&client);
    let rss = peak_rss();
    anon = anon.max(status_bytes("RssAnon:"));
    client.stop().await;
    drop(client);
    let bytes = std::fs::metadata(dir.join("data.ldb")).map_or(0, |m| m.len());
    let peaks: Vec<String> = peaks.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "containers {}", peaks.join(" "));
    let _ = writeln!(out, "pulls {pulls}");
    let _ = writeln!(
        out,
        "done {secs:.3} {got} {rss} {bytes} {} {} {anon}",
        st.blocks_received, st.blocks_duplicate
    );
}

/// What held the ascending client's pulls back, sampled at every poll (50 a second) and
/// printed with the pull counters: the requests in flight (against `channel_limit` per
/// channel: with the one serving peer, at most that many), the blocks submitted and not
/// yet processed (the client sends no pulls from `block_processor_threshold` on), and the
/// accounts queued. A client at its channel limit waits on round trips; one saturating the
/// processor waits on the writer; one with neither has nothing it may pull.
struct SupplySamples {
    channel_limit: usize,
    threshold: usize,
    n: u64,
    in_flight: u64,
    at_limit: u64,
    outstanding: u64,
    saturated: u64,
    priorities: u64,
    /// Requests sent and timed out so far, at the last `take` and at the last sample.
    sent: (u64, u64),
    timed_out: (u64, u64),
}

impl SupplySamples {
    fn new(c: &nano_node::bootstrap::BootstrapConfig) -> SupplySamples {
        Self::with(c.channel_limit, c.block_processor_threshold)
    }

    fn with(channel_limit: usize, threshold: usize) -> SupplySamples {
        SupplySamples {
            channel_limit,
            threshold,
            n: 0,
            in_flight: 0,
            at_limit: 0,
            outstanding: 0,
            saturated: 0,
            priorities: 0,
            sent: (0, 0),
            timed_out: (0, 0),
        }
    }

    fn sample(&mut self, st: &nano_node::bootstrap::BootstrapStatus) {
        self.n += 1;
        self.in_flight += st.requests_in_flight as u64;
        self.at_limit += u64::from(st.requests_in_flight >= self.channel_limit);
        self.outstanding += st.processor_outstanding as u64;
        self.saturated += u64::from(st.processor_outstanding >= self.threshold);
        self.priorities += st.priorities as u64;
        self.sent.1 = st.requests_sent;
        self.timed_out.1 = st.requests_timed_out;
    }

    /// The means since the last call (`client.*` fields), and a new interval.
    fn take(&mut self) -> String {
        let n = self.n.max(1) as f64;
        let line = format!(
            "client.in_flight_mean={:.1} client.at_channel_limit={:.2} \
             client.outstanding_mean={:.0} client.saturated={:.2} client.queued_mean={:.0} \
             client.sent={} client.timed_out={}",
            self.in_flight as f64 / n,
            self.at_limit as f64 / n,
            self.outstanding as f64 / n,
            self.saturated as f64 / n,
            self.priorities as f64 / n,
            self.sent.1.saturating_sub(self.sent.0),
            self.timed_out.1.saturating_sub(self.timed_out.0),
        );
        let (sent, timed_out) = (self.sent.1, self.timed_out.1);
        *self = Self::with(self.channel_limit, self.threshold);
        self.sent = (sent, sent);
        self.timed_out = (timed_out, timed_out);
        line
    }
}

/// A node's drops, errors, asc_pull answers, messages paced to the bandwidth budget and
/// the ascending client's requests presumed lost or answered late so far (`<who>.<kind>.<detail>.<dir>`): an answer dropped by
/// either side leaves the client's request in flight until it is presumed lost.
fn drop_counts(node: &Node, who: &str) -> String {
    let parts: Vec<String> = node
        .stats
        .snapshot()
        .into_iter()
        .filter(|(kind, _, _, _)| {
            matches!(
                kind.as_str(),
                "drop" | "error" | "asc_pull" | "bootstrap_ascending" | "bandwidth"
            )
        })
        .map(|(kind, detail, dir, n)| format!("{who}.{kind}.{detail}.{dir}={n}"))
        .collect();
    parts.join(" ")
}

/// The ascending client's pull counters (`reason.what=n`, see the node's
/// `bootstrap::pull_stats`), one line.
/// With them, every block processor outcome of the node (`ledger.<status>`, blocks
/// released from the gap table included), the gap table's size, and the CPU seconds
/// of the block processor thread so far (`writer_cpu`, from `/proc`): what the
/// processor spent on blocks that did not go in.
fn pull_counts(node: &Node) -> String {
    let mut parts: Vec<String> = node
        .bootstrap
        .as_ref()
        .map(|b| b.pull_counts())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for st in ["progress", "old", "gap_previous", "gap_source"] {
        parts.push(format!(
            "ledger.{st}={}",
            node.stats.get("ledger", st, "in")
        ));
    }
    parts.push(format!("unchecked={}", node.consensus.unchecked_len()));
    parts.push(format!("writer_cpu={:.1}", thread_cpu("block_processor")));
    parts.join(" ")
}

/// User + system CPU seconds of this process's threads named `name` (`/proc`, 100
/// ticks a second).
fn thread_cpu(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is the 3rd, utime the 14th.
        if let Some(rest) = stat.rsplit_once(')').map(|r| r.1) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            ticks += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    ticks as f64 / 100.0
}

/// How often the child prints its I/O counters (`io now`), and the step of its marks
/// (`io mark`, with the tables' page counts).
const IO_INTERVAL: Duration = Duration::from_secs(10);
const IO_MARK_STEP: u64 = 1_000_000;

/// The id of this process's thread named `name` (the first one found).
fn thread_id(name: &str) -> Option<String> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            (comm.trim() == name).then(|| t.file_name().to_string_lossy().into_owned())
        })
}

/// `key: value` lines of a `/proc` file (`io`) as `prefix.key=value`.
fn proc_keyed(path: &str, prefix: &str, keys: &[&str], out: &mut Vec<String>) {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    for l in s.lines() {
        if let Some((k, v)) = l.split_once(':') {
            if keys.contains(&k) {
                out.push(format!("{prefix}.{k}={}", v.trim()));
            }
        }
    }
}

/// A `/proc/.../stat` file's fields after the parenthesised name, by their numbers in
/// proc(5) (`minflt` 10, `majflt` 12, `utime` 14, `stime` 15, ticks of 10 ms).
fn proc_stat(path: &str, prefix: &str, out: &mut Vec<String>) {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let Some(rest) = s.rsplit_once(')').map(|r| r.1) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // The first field after the name is field 3 of proc(5).
    for (name, n) in [("minflt", 10), ("majflt", 12), ("utime", 14), ("stime", 15)] {
        if let Some(v) = f.get(n - 3) {
            out.push(format!("{prefix}.{name}={v}"));
        }
    }
}

/// The syncing process's I/O and the writer thread's time, one line of `key=value`
/// (all totals since start): the process's `/proc/self/io` (`proc.*`) and faults; the
/// writer thread's `schedstat` (`writer.run_ns` on a CPU, `writer.wait_ns` runnable
/// waiting for one; the rest of the wall time it was blocked), faults and CPU ticks,
/// its own `io` (`writer.write_bytes`: what it sent to the disk); the block processor's
/// phases (`ws.*`, see `writer_stats`); the file's last used page.
fn io_counters(node: &Node) -> String {
    let mut out = Vec::new();
    let io_keys = [
        "rchar",
        "wchar",
        "syscr",
        "syscw",
        "read_bytes",
        "write_bytes",
    ];
    proc_keyed("/proc/self/io", "proc", &io_keys, &mut out);
    proc_stat("/proc/self/stat", "proc", &mut out);
    if let Some(tid) = thread_id("block_processor") {
        let task = format!("/proc/self/task/{tid}");
        let sched = std::fs::read_to_string(format!("{task}/schedstat")).unwrap_or_default();
        let f: Vec<&str> = sched.split_whitespace().collect();
        if f.len() >= 3 {
            out.push(format!("writer.run_ns={}", f[0]));
            out.push(format!("writer.wait_ns={}", f[1]));
            out.push(format!("writer.slices={}", f[2]));
        }
        proc_stat(&format!("{task}/stat"), "writer", &mut out);
        proc_keyed(&format!("{task}/io"), "writer", &io_keys, &mut out);
    }
    let (ios, sectors) = disk_writes();
    out.push(format!("disk.writes={ios}"));
    out.push(format!("disk.sectors_written={sectors}"));
    for (k, v) in node.consensus.writer_stats() {
        out.push(format!("ws.{k}={v}"));
    }
    out.push(format!("last_page={}", node.ledger.store().last_page()));
    out.join(" ")
}

/// Write requests completed and 512-byte sectors written by the machine's disks
/// (`/proc/diskstats`, whole disks in `/sys/block`, loop and RAM devices left out):
/// what reached the devices, from every process, so the sync's own only on a quiet
/// machine. (`/proc/<pid>/io` `write_bytes` cannot say it: it counts a page-cache folio
/// whole when a write dirties part of it, and ext4 here caches files in large folios,
/// so a 4 KiB `pwrite` counted up to tens of KiB that writeback never wrote.)
fn disk_writes() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    let (mut ios, mut sectors) = (0, 0);
    for l in s.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(name) = f.get(2) else { continue };
        let whole = Path::new("/sys/block").join(name).exists();
        if !whole || name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram")
        {
            continue;
        }
        ios += f.get(7).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        sectors += f.get(9).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    (ios, sectors)
}

/// Each table's B-tree as `name=depth/branch pages/leaf pages/overflow pages/entries`.
fn table_stats(ledger: &Ledger) -> String {
    match ledger.store().table_stats() {
        Ok(t) => t
            .iter()
            .filter(|(_, s)| s.entries > 0)
            .map(|(n, s)| {
                format!(
                    "{n}={}/{}/{}/{}/{}",
                    s.depth, s.branch_pages, s.leaf_pages, s.overflow_pages, s.entries
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("error={e}"),
    }
}

/// One `io` line's counters by name.
type IoSample = std::collections::BTreeMap<String, f64>;

fn parse_io(secs: &str, blocks: &str, kv: &[&str]) -> IoSample {
    let mut m: IoSample = kv
        .iter()
        .filter_map(|p| p.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect();
    m.insert("secs".into(), secs.parse().unwrap_or(0.0));
    m.insert("blocks".into(), blocks.parse().unwrap_or(0.0));
    m
}

/// What the sync spent between two `io` samples, per block synced and per commit:
/// `(name, value)` in a fixed order (the columns of the interval and per-million rows).
fn io_interval(a: &IoSample, b: &IoSample) -> Vec<(&'static str, f64)> {
    let d = |k: &str| b.get(k).copied().unwrap_or(0.0) - a.get(k).copied().unwrap_or(0.0);
    let wall = d("secs").max(1e-9);
    let blocks = d("blocks").max(1.0);
    let commits = d("ws.commits").max(1.0);
    let wall_ns = wall * 1e9;
    let phase_cpu = |p: &str| d(&format!("ws.{p}.user_ns")) + d(&format!("ws.{p}.sys_ns"));
    let blocked = wall_ns - d("writer.run_ns") - d("writer.wait_ns");
    vec![
        ("blocks_per_s", d("blocks") / wall),
        // The whole syncing process (both its reads and writes of the ledger file).
        // What LMDB handed to the kernel: the writer's `pwrite` bytes (its `wchar`), in
        // 4 KiB pages; and what reached the disks (machine-wide, see `disk_writes`).
        ("lmdb_pages_per_block", d("writer.wchar") / 4096.0 / blocks),
        (
            "disk_bytes_per_block",
            d("disk.sectors_written") * 512.0 / blocks,
        ),
        ("disk_writes_per_block", d("disk.writes") / blocks),
        (
            "proc_dirtied_bytes_per_block",
            d("proc.write_bytes") / blocks,
        ),
        ("proc_syscw_per_block", d("proc.syscw") / blocks),
        ("proc_read_bytes_per_block", d("proc.read_bytes") / blocks),
        ("proc_majflt_per_block", d("proc.majflt") / blocks),
        (
            "file_growth_bytes_per_block",
            d("last_page") * 4096.0 / blocks,
        ),
        // The writer thread: CPU, run-queue wait and blocked, as shares of the wall time.
        ("writer_cpu_us_per_block", d("writer.run_ns") / 1e3 / blocks),
        ("writer_on_cpu", d("writer.run_ns") / wall_ns),
        ("writer_runqueue", d("writer.wait_ns") / wall_ns),
        ("writer_blocked", blocked / wall_ns),
        ("writer_idle_wait", d("ws.idle.wall_ns") / wall_ns),
        ("writer_begin", d("ws.begin.wall_ns") / wall_ns),
        ("writer_process", d("ws.process.wall_ns") / wall_ns),
        ("writer_commit", d("ws.commit.wall_ns") / wall_ns),
        ("writer_after", d("ws.after.wall_ns") / wall_ns),
        ("writer_minflt_per_block", d("writer.minflt") / blocks),
        ("writer_majflt_per_block", d("writer.majflt") / blocks),
        // Commits: how many, how big, and where their time goes.
        ("commits_per_s", d("ws.commits") / wall),
        ("blocks_per_commit", d("ws.blocks") / commits),
        (
            "lmdb_pages_per_commit",
            d("writer.wchar") / 4096.0 / commits,
        ),
        (
            "disk_mb_per_s",
            d("disk.sectors_written") * 512.0 / 1e6 / wall,
        ),
        ("commit_ms", d("ws.commit.wall_ns") / 1e6 / commits),
        ("commit_cpu_ms", phase_cpu("commit") / 1e6 / commits),
        (
            "commit_off_cpu_ms",
            (d("ws.commit.wall_ns") - phase_cpu("commit")) / 1e6 / commits,
        ),
        ("commit_blocks_waits", d("ws.commit.vcsw") / commits),
        (
            "process_cpu_us_per_block",
            phase_cpu("process") / 1e3 / blocks,
        ),
        (
            "process_off_cpu_us_per_block",
            (d("ws.process.wall_ns") - phase_cpu("process")) / 1e3 / blocks,
        ),
        ("process_majflt_per_block", d("ws.process.majflt") / blocks),
        ("process_minflt_per_block", d("ws.process.minflt") / blocks),
        ("after_cpu_us_per_block", phase_cpu("after") / 1e3 / blocks),
    ]
}

/// Prints an `io_interval` as one `name=value` line.
fn io_line(label: &str, row: &[(&'static str, f64)]) -> String {
    let parts: Vec<String> = row
        .iter()
        .map(|(k, v)| {
            if v.abs() >= 100.0 {
                format!("{k}={v:.0}")
            } else {
                format!("{k}={v:.3}")
            }
        })
        .collect();
    format!("{label} {}", parts.join(" "))
}

/// Folds the counts of a container tree (`{"name": {"child": {"count": "n"}}}`) into
/// `peaks`, keyed by the path of each leaf.
fn container_peaks(
    v: &serde_json::Value,
    path: &str,
    peaks: &mut std::collections::BTreeMap<String, u64>,
) {
    let Some(m) = v.as_object() else { return };
    if let Some(n) = m
        .get("count")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok())
    {
        let e = peaks.entry(path.to_string()).or_default();
        *e = (*e).max(n);
        return;
    }
    for (k, c) in m {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}/{k}")
        };
        container_peaks(c, &p, peaks);
    }
}

/// Child process: opens the ledger `path` (timed), then validates it as
/// `--validate_blocks` does. Prints `open <secs> <rss>` and `validate <secs> <blocks>
/// <problems> <rss>`.
fn child_open(path: PathBuf) {
    let started = Instant::now();
    let ledger = Ledger::open_with(&path, Network::Dev, &store_options()).unwrap();
    let blocks = count(&ledger);
    println!(
        "open {:.3} {} {blocks} {}",
        started.elapsed().as_secs_f64(),
        peak_rss(),
        status_bytes("RssAnon:")
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let t = ledger.read_txn().unwrap();
    let sum = ledger.validate(&t, threads, |_| {}).unwrap();
    println!(
        "validate {:.3} {} {} {}",
        started.elapsed().as_secs_f64(),
        sum.blocks,
        sum.problems,
        peak_rss()
    );
}

/// Runs this binary again with `env` set and returns its standard output lines as they
/// come (to `each`).
fn child(env: (&str, String), mut each: impl FnMut(&str)) {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    // `NANO_BOOTSTRAP_BENCH_WRAP="heaptrack -o <file>"` runs the child under a profiler.
    let wrap: Vec<String> = std::env::var("NANO_BOOTSTRAP_BENCH_WRAP")
        .map(|w| w.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut c = match wrap.split_first() {
        Some((tool, args)) => {
            let mut c = std::process::Command::new(tool);
            c.args(args).arg(&exe);
            c
        }
        None => std::process::Command::new(&exe),
    };
    let mut c = c
        .env(env.0, env.1)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = c.stdout.take().unwrap();
    for line in std::io::BufReader::new(out).lines() {
        each(&line.unwrap());
    }
    assert!(c.wait().unwrap().success(), "bench child failed");
}

/// Blocks synced against time as an SVG line plot (no plotting dependency: a polyline
/// with labelled axes), converted to PNG by `scripts/svg-to-png.sh`.
fn svg_plot(title: &str, samples: &[(f64, u64)]) -> String {
    let (w, h, l, b) = (800.0, 480.0, 90.0, 50.0);
    let max_t = samples.last().map_or(1.0, |s| s.0).max(1.0);
    let max_n = samples.iter().map(|s| s.1).max().unwrap_or(1).max(1) as f64;
    let x = |t: f64| l + t / max_t * (w - l - 20.0);
    let y = |n: f64| h - b - n / max_n * (h - b - 40.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n",
        w / 2.0
    );
    for i in 0..=5 {
        let t = max_t * i as f64 / 5.0;
        let n = max_n * i as f64 / 5.0;
        svg += &format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ddd\"/>\
             <text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4:.0}</text>\n",
            x(t),
            y(0.0),
            y(max_n),
            h - b + 18.0,
            t
        );
        svg += &format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#ddd\"/>\
             <text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5:.0}</text>\n",
            x(0.0),
            y(n),
            x(max_t),
            l - 6.0,
            y(n) + 4.0,
            n
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds</text>\
         <text x=\"18\" y=\"{}\" transform=\"rotate(-90 18 {})\" text-anchor=\"middle\">blocks in the syncing ledger</text>\n",
        (l + w) / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    let points: Vec<String> = samples
        .iter()
        .map(|(t, n)| format!("{:.1},{:.1}", x(*t), y(*n as f64)))
        .collect();
    svg += &format!(
        "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{}\"/>\n</svg>\n",
        points.join(" ")
    );
    svg
}

async fn run(blocks: u64, ascending: bool) {
    let cached = cached_ledger(blocks);
    let work = cache_dir();
    // The server runs on the cached ledger itself (no copy of a large file): it only
    // serves, and what it writes (peers, online weight) does not change the blocks.
    let mut so = NodeOptions::new(config(vec![]), Network::Dev, cached.parent().unwrap());
    so.bootstrap.enable_client = false;
    let server: Arc<Node> = Node::start_with(so).await.unwrap();
    let total = count(&server.ledger);
    let cdir = tempfile::tempdir_in(&work).unwrap();
    let peer = format!("127.0.0.1:{}", server.local_endpoint().unwrap().port());
    let spec = format!("{peer}|{}|{total}|{ascending}", cdir.path().display());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let runner = std::thread::spawn(move || {
        child(("NANO_BOOTSTRAP_BENCH_CHILD", spec), |l| {
            let _ = tx.send(l.to_string());
        })
    });
    let mut samples: Vec<(f64, u64)> = vec![(0.0, 1)];
    let mut done: Option<Vec<f64>> = None;
    let mut last_anon = String::from("0");
    let mode = if ascending { "ascending" } else { "legacy" };
    let base = work.join(format!("sync-{blocks}-{mode}"));
    // Written as the samples arrive, so a run stopped part-way still leaves its series.
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(base.with_extension("csv")).unwrap());
    {
        use std::io::Write;
        let _ = writeln!(
            csv,
            "seconds,blocks,anonymous_rss_bytes,received\n0.000,1,0,0"
        );
    }
    // The I/O samples: every 10 s (each interval a row of `sync-<blocks>-<mode>-io.csv`
    // and a log line) and at each million (the summary's rows).
    let mut io_csv = std::io::BufWriter::new(
        std::fs::File::create(work.join(format!("sync-{blocks}-{mode}-io.csv"))).unwrap(),
    );
    let mut io_prev: Option<IoSample> = None;
    let mut io_header = false;
    let mut io_marks: Vec<IoSample> = Vec::new();
    let mut tables: Vec<String> = Vec::new();
    // The server keeps serving on this runtime while the child syncs.
    loop {
        match rx.try_recv() {
            Ok(line) => {
                let f: Vec<&str> = line.split(' ').collect();
                match f[0] {
                    "sample" => {
                        use std::io::Write;
                        samples.push((f[1].parse().unwrap(), f[2].parse().unwrap()));
                        let _ = writeln!(csv, "{},{},{},{}", f[1], f[2], f[3], f[4]);
                        last_anon = f[3].to_string();
                        let _ = csv.flush();
                    }
                    "io" if f.len() >= 4 => {
                        use std::io::Write;
                        let cur = parse_io(f[2], f[3], &f[4..]);
                        if io_marks.is_empty() {
                            io_marks.push(cur.clone());
                        }
                        if f[1] == "mark" {
                            io_marks.push(cur);
                            continue;
                        }
                        if let Some(prev) = &io_prev {
                            let row = io_interval(prev, &cur);
                            if !io_header {
                                io_header = true;
                                let names: Vec<&str> = row.iter().map(|r| r.0).collect();
                                let _ = writeln!(io_csv, "seconds,blocks,{}", names.join(","));
                            }
                            let vals: Vec<String> =
                                row.iter().map(|r| format!("{:.4}", r.1)).collect();
                            let _ = writeln!(io_csv, "{},{},{}", f[2], f[3], vals.join(","));
                            let _ = io_csv.flush();
                            println!("  io at {} s, {} blocks: {}", f[2], f[3], io_line("", &row));
                        }
                        io_prev = Some(cur);
                    }
                    "tables" if f.len() >= 2 => {
                        println!(
                            "  tables at {} blocks (depth/branch/leaf/overflow/entries): {}",
                            f[1],
                            f[2..].join(" ")
                        );
                        tables.push(format!("{} {}", f[1], f[2..].join(" ")));
                    }
                    "done" => done = Some(f[1..].iter().map(|v| v.parse().unwrap()).collect()),
                    "containers" => println!("  peak container entries: {}", f[1..].join(" ")),
                    "pulls" => println!("  pulls by reason: {}", f[1..].join(" ")),
                    "pulls_now" if f.len() >= 3 => println!(
                        "  at {} s, {} blocks, pulls by reason: {} {}",
                        f[1],
                        f[2],
                        f[3..].join(" "),
                        drop_counts(&server, "server")
                    ),
                    "containers_now" if f.len() >= 4 => println!(
                        "  at {} s, {} blocks, anonymous RSS {:.0} MB: {}",
                        f[1],
                        f[2],
                        f[3].parse::<f64>().unwrap_or(0.0) / 1e6,
                        f[4..].join(" ")
                    ),
                    _ => {}
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
        }
    }
    runner.join().unwrap();
    server.stop().await;
    if std::env::var("NANO_BOOTSTRAP_BENCH_KEEP").as_deref() == Ok("1") {
        let kept = cdir.keep();
        println!("  synced ledger kept: {}", kept.join("data.ldb").display());
    }
    let d = done.expect("the child reports its result");
    let (secs, got, rss, bytes, received, dups, anon) = (
        d[0],
        d[1] as u64,
        d[2] as u64,
        d[3] as u64,
        d[4] as u64,
        d[5] as u64,
        d[6] as u64,
    );
    samples.push((secs, got));
    // The rate over the first million blocks (none when the ledger is smaller).
    let first_m = samples
        .iter()
        .find(|s| s.1 >= 1_000_000)
        .map(|s| (1_000_000 - 1) as f64 / s.0);
    println!(
        "bootstrap {mode:9} {total:>8} blocks: {got} synced in {secs:.2} s = {:.0} blocks/s{} \
         (received {received}, duplicates {dups}); syncing node: peak RSS {:.1} MB (anonymous \
         {:.1} MB, the rest the ledger file's mapped pages), ledger {bytes} bytes = {:.0} \
         bytes/block{}",
        got.saturating_sub(1) as f64 / secs,
        first_m.map_or(String::new(), |r| format!(
            ", first million {r:.0} blocks/s"
        )),
        rss as f64 / 1e6,
        anon as f64 / 1e6,
        bytes as f64 / got.max(1) as f64,
        if got < total { " INCOMPLETE" } else { "" }
    );
    {
        use std::io::Write;
        let _ = writeln!(csv, "{secs:.3},{got},{last_anon},{received}");
        let _ = csv.flush();
    }
    std::fs::write(
        base.with_extension("svg"),
        svg_plot(
            &format!("{mode} sync of a {total}-block dev ledger over loopback"),
            &samples,
        ),
    )
    .unwrap();
    println!("  samples: {}", base.with_extension("csv").display());
    println!(
        "  I/O every 10 s: {}",
        work.join(format!("sync-{blocks}-{mode}-io.csv")).display()
    );
    print_io_per_mark(&io_marks);
    println!("  tables at each mark (blocks: name=depth/branch/leaf/overflow/entries):");
    for t in &tables {
        println!("  {t}");
    }
    println!(
        "  blocks/s per {step} blocks: {}",
        per_step_rates(&samples, step_of(total))
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        step = step_of(total)
    );
}

/// The I/O figures between consecutive marks (each million, and the end), one row
/// each, with the first one's bytes and writer CPU per block for comparison.
fn print_io_per_mark(marks: &[IoSample]) {
    if marks.len() < 2 {
        return;
    }
    println!("  I/O and the writer per million (each row: from the previous mark to this one):");
    for w in marks.windows(2) {
        let row = io_interval(&w[0], &w[1]);
        println!(
            "  {}",
            io_line(
                &format!("to {:.0} blocks ({:.0} s):", w[1]["blocks"], w[1]["secs"]),
                &row
            )
        );
    }
}

/// The step of the printed rate series: 100,000 blocks (10 steps at 1M, 100 at 10M).
fn step_of(total: u64) -> u64 {
    if total >= 1_000_000 {
        100_000
    } else {
        (total / 10).max(1)
    }
}

/// Blocks per second over each successive `step` blocks of the sync, the moment each
/// step was reached interpolated between the two samples around it.
fn per_step_rates(samples: &[(f64, u64)], step: u64) -> Vec<f64> {
    let mut rates = Vec::new();
    let (mut from_t, mut next) = (0.0, step);
    for w in samples.windows(2) {
        let ((t0, n0), (t1, n1)) = (w[0], w[1]);
        while n1 >= next && n1 > n0 {
            let at = t0 + (t1 - t0) * (next.saturating_sub(n0)) as f64 / (n1 - n0) as f64;
            rates.push(step as f64 / (at - from_t).max(1e-3));
            from_t = at;
            next += step;
        }
    }
    rates
}

fn open_and_validate(blocks: u64) {
    let path = cached_ledger(blocks);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    child(
        ("NANO_BOOTSTRAP_BENCH_OPEN", path.display().to_string()),
        |l| {
            let f: Vec<&str> = l.split(' ').collect();
            match f[0] {
                "open" => println!(
                    "open {} blocks ({size} bytes): {} s, peak RSS {:.1} MB (anonymous {:.1} MB)",
                    f[3],
                    f[1],
                    f[2].parse::<f64>().unwrap() / 1e6,
                    f[4].parse::<f64>().unwrap() / 1e6
                ),
                "validate" => println!(
                "validate_blocks {} blocks: {} s = {:.0} blocks/s, {} problems, peak RSS {:.1} MB",
                f[2],
                f[1],
                f[2].parse::<f64>().unwrap() / f[1].parse::<f64>().unwrap(),
                f[3],
                f[4].parse::<f64>().unwrap() / 1e6
            ),
                _ => {}
            }
        },
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    if let Ok(spec) = std::env::var("NANO_BOOTSTRAP_BENCH_CHILD") {
        let f: Vec<&str> = spec.split('|').collect();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(child_sync(
            f[0].to_string(),
            PathBuf::from(f[1]),
            f[2].parse().unwrap(),
            f[3] == "true",
        ));
        return;
    }
    if let Ok(path) = std::env::var("NANO_BOOTSTRAP_BENCH_OPEN") {
        child_open(PathBuf::from(path));
        return;
    }
    let sizes: Vec<u64> = std::env::var("NANO_BOOTSTRAP_BENCH_SIZES")
        .unwrap_or_else(|_| "50000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let modes =
        std::env::var("NANO_BOOTSTRAP_BENCH_MODES").unwrap_or_else(|_| "ascending,legacy".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in sizes {
        for m in modes.split(',') {
            let ascending = m.trim() != "legacy";
            rt.block_on(run(n, ascending));
        }
        if std::env::var("NANO_BOOTSTRAP_BENCH_VALIDATE").as_deref() != Ok("0") {
            open_and_validate(n);
        }
    }
}
