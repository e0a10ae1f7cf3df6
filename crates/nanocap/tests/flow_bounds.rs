//! The analyzer's TCP flow table under hostile captures: a SYN flood holds at most
//! `MAX_OPEN_FLOWS` open flows, flows idle for `FLOW_IDLE_USEC` of capture time are
//! closed, and out-of-order data across many flows stays under `MAX_BUFFERED_TOTAL`;
//! every eviction is counted.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nanocap::analyzer::{Analyzer, Options, FLOW_IDLE_USEC, MAX_BUFFERED_TOTAL, MAX_OPEN_FLOWS};
use nanocap::net::{Segment, TcpFlags, Transport};
use nanocap::status::Status;

fn addr(i: u32, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + i), port))
}

fn server() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 1), 7075))
}

fn syn(a: &mut Analyzer, ts: i64, client: SocketAddr) {
    let seg = Segment {
        src: client,
        dst: server(),
        transport: Transport::Tcp {
            seq: 1000,
            flags: TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            payload: &[],
        },
    };
    a.segment(ts, &seg);
    // Rows are not what this test looks at; keep them from piling up.
    a.take_rows();
}

fn data(a: &mut Analyzer, ts: i64, client: SocketAddr, seq: u32, payload: &[u8]) {
    let seg = Segment {
        src: client,
        dst: server(),
        transport: Transport::Tcp {
            seq,
            flags: TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            payload,
        },
    };
    a.segment(ts, &seg);
    a.take_rows();
}

#[test]
fn syn_flood_is_capped_and_idle_flows_are_closed() {
    let status = Arc::new(Status::default());
    let mut a = Analyzer::new(Options::default(), status.clone(), 1);
    let flood = MAX_OPEN_FLOWS as u32 + 5_000;
    for i in 0..flood {
        syn(&mut a, 1_000_000 + i64::from(i), addr(i, 40_000));
        assert!(a.open_flows().0 <= MAX_OPEN_FLOWS);
    }
    let evicted = status.flows_evicted.load(Ordering::Relaxed);
    assert!(evicted >= 5_000, "evicted {evicted}");
    assert_eq!(
        a.open_flows().0 as u64,
        u64::from(flood) - evicted,
        "every flow is open or counted as evicted"
    );
    // Capture time moves past the idle limit: the next segment closes every flow that
    // has been silent since.
    let later = 1_000_000 + i64::from(flood) + FLOW_IDLE_USEC + 2_000_000;
    syn(&mut a, later, addr(flood + 1, 40_000));
    assert_eq!(a.open_flows().0, 1, "only the fresh flow stays open");
    assert_eq!(
        status.flows_evicted.load(Ordering::Relaxed),
        u64::from(flood),
        "all earlier flows evicted"
    );
}

#[test]
fn out_of_order_bytes_across_flows_stay_under_the_total_cap() {
    let status = Arc::new(Status::default());
    let mut a = Analyzer::new(Options::default(), status.clone(), 1);
    let seg = vec![0x52u8; 60 * 1024];
    // Each flow: a SYN, then segments past a one-byte hole that never fills.
    let flows = 100u32;
    let per_flow = 16u32;
    for f in 0..flows {
        let c = addr(f, 50_000);
        syn(&mut a, 1_000, c);
        for s in 0..per_flow {
            data(&mut a, 1_000, c, 1_002 + s * seg.len() as u32, &seg);
            assert!(a.open_flows().1 <= MAX_BUFFERED_TOTAL, "over the cap");
        }
    }
    let offered = flows as usize * per_flow as usize * seg.len();
    assert!(
        offered > MAX_BUFFERED_TOTAL,
        "the test offers more than the cap"
    );
    // Each flow ends up holding 16 x 60 KiB = 960 KiB. The total first passes 64 MiB at
    // segment 1,093 (65,580 KiB); bringing it to 48 MiB takes the 18 fullest flows
    // (whole ones: 17,280 KiB released, 48,300 KiB left). It passes again 288 segments
    // later, at the same 65,580 KiB, and 18 more go; the last 219 segments stay under.
    assert_eq!(status.flow_buffers_released.load(Ordering::Relaxed), 36);
    assert_eq!(a.open_flows().0, flows as usize, "flows stay open");
}
