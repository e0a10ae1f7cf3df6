//! The analyzer: keeps the TCP flow table, classifies connections (handshake/realtime vs
//! legacy bootstrap), frames each direction's byte stream into Nano messages with
//! `nano-messages`' header rule, switches a direction into a bootstrap response stream
//! after a request and decodes those with `nano-messages`' stream decoders, and turns
//! everything into database rows. It never parses protocol bytes itself.
//!
//! This module holds the types the parts share; [`flows`] keeps the flow table (open,
//! feed, gap, close, prune), [`framing`] cuts each direction's bytes into messages and
//! bootstrap stream entries, [`rows`] turns what was decoded into database rows.

mod flows;
mod framing;
mod rows;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use nano_messages::stream::{BlockStreamCodec, BulkPullAccountStreamCodec, FrontierStreamCodec};

pub use flows::{flow_key, FLOW_IDLE_USEC, MAX_BUFFERED_TOTAL, MAX_OPEN_FLOWS};

use crate::db::{Row, Val, ID_SPAN};
use crate::net::{Segment, Transport};
use crate::status::Status;
use crate::tcp::Stream;

/// What to write besides packets (the reference's `capture.*_details` switches;
/// `connection_details` shapes the `connection` view instead, see
/// [`crate::schema::connection_view_sql`]).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub block_details: bool,
    pub bootstrap_details: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_details: true,
            bootstrap_details: true,
        }
    }
}

/// How a TCP connection is used, decided by its first message (fact sheet §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Undefined,
    Realtime,
    Bootstrap,
}

/// What the next bytes of one direction are.
#[derive(Debug)]
enum Mode {
    Messages,
    Frontiers {
        codec: FrontierStreamCodec,
        request_id: i64,
    },
    BulkPullBlocks {
        codec: BlockStreamCodec,
        request_id: i64,
        packet_id: i64,
    },
    BulkPullAccount {
        codec: BulkPullAccountStreamCodec,
        request_id: i64,
    },
    BulkPushBlocks {
        codec: BlockStreamCodec,
        packet_id: i64,
    },
}

#[derive(Debug)]
struct Dir {
    stream: Stream,
    buf: Vec<u8>,
    mode: Mode,
    /// Scanning for the next header after undecodable bytes; one error per run.
    resync: bool,
    valid: u64,
    invalid: u64,
}

#[derive(Debug)]
struct Flow {
    key: i64,
    /// The initiator (SYN sender), else the first sender seen.
    client: SocketAddr,
    server: SocketAddr,
    dirs: [Dir; 2],
    channel: Channel,
    closed: bool,
    protocol: &'static str,
    /// The client's and the server's IP address as text, rendered once per flow.
    ips: [Arc<str>; 2],
    /// Capture time of the flow's last segment, for idle eviction.
    last_usec: i64,
}

/// Per-frame context for rows.
struct Ctx {
    time: Val,
    usec: i64,
    /// The whole capture timestamp (µs since the epoch), for flow ages.
    at_usec: i64,
}

/// Turns decoded things into rows; separate from the flow table so both can be borrowed.
struct Emitter {
    opts: Options,
    status: Arc<Status>,
    next_id: i64,
    rows: Vec<Row>,
    cached_sec: i64,
    cached_time: Option<Arc<str>>,
    accounts: AccountNames,
}

/// `nano_` addresses of recently seen keys. Representatives sign most votes and appear
/// in most blocks, and an address costs a BLAKE2b checksum and a base-32 encoding, so a
/// small cache of shared strings saves both the work and the allocation.
#[derive(Default)]
struct AccountNames(std::cell::RefCell<HashMap<[u8; 32], Arc<str>>>);

/// Totals for the end-of-run summary.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub packets: u64,
    pub messages: u64,
    pub stream_entries: u64,
    pub decode_errors: u64,
}

/// The decoding engine: feed frames, take rows.
pub struct Analyzer {
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    em: Emitter,
    closed_flows: usize,
    /// Out-of-order bytes held by all open flows together.
    buffered: usize,
    /// Capture time of the next idle sweep.
    next_sweep_usec: i64,
}

impl Analyzer {
    /// A new analyzer writing ids of run `run`.
    pub fn new(opts: Options, status: Arc<Status>, run: i64) -> Analyzer {
        Analyzer {
            flows: HashMap::new(),
            em: Emitter {
                opts,
                status,
                next_id: run * ID_SPAN + 1,
                rows: Vec::new(),
                cached_sec: i64::MIN,
                cached_time: None,
                accounts: AccountNames::default(),
            },
            closed_flows: 0,
            buffered: 0,
            next_sweep_usec: i64::MIN,
        }
    }

    /// Restarts ids for a new run (after "destroy") and forgets all flows.
    pub fn reset(&mut self, run: i64) {
        self.flows.clear();
        self.closed_flows = 0;
        self.buffered = 0;
        self.em.next_id = run * ID_SPAN + 1;
        self.em.rows.clear();
    }

    /// Rows produced since the last call.
    pub fn take_rows(&mut self) -> Vec<Row> {
        std::mem::take(&mut self.em.rows)
    }

    /// Rows waiting to be taken.
    pub fn pending_rows(&self) -> usize {
        self.em.rows.len()
    }

    /// A frame that could not be parsed below the Nano layer.
    pub fn frame_error(&mut self, ts_usec: i64, stage: &'static str, msg: String) {
        let ctx = self.em.ctx(ts_usec);
        self.em.error(&ctx, None, 0, stage, msg);
    }

    /// Feeds one parsed frame.
    pub fn segment(&mut self, ts_usec: i64, seg: &Segment<'_>) {
        let ctx = self.em.ctx(ts_usec);
        match seg.transport {
            Transport::Udp { payload } => self.udp(&ctx, seg.src, seg.dst, payload),
            Transport::Tcp {
                seq,
                flags,
                payload,
            } => self.tcp(&ctx, seg.src, seg.dst, seq, flags, payload),
        }
    }
}
