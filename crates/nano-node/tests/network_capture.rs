//! `node.capture_path`: the node's own TCP and UDP traffic lands in a pcap file whose
//! frames carry decodable messages with the real ports.

mod network_support;

use std::time::Duration;

use etherparse::{SlicedPacket, TransportSlice};
use nano_core::Network;
use nano_node::network::NetworkFlags;
use network_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_file_holds_tcp_and_udp_messages() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let path = da.path().join("node.pcap");
    let mut cfg = dev_config(0, vec![]);
    cfg.capture_path = path.to_string_lossy().into_owned();
    let a = start_node(da.path(), cfg, NetworkFlags::default()).await;
    let b = start_node(
        db.path(),
        dev_config(0, vec![a.peer_string()]),
        NetworkFlags::default(),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(10), || a.tcp_peers() == 1
            && a.udp_peers() == 1)
        .await
    );
    // Let a telemetry round and keepalives pass over both transports.
    assert!(
        wait_until(Duration::from_secs(10), || a.stats.get(
            "telemetry",
            "process",
            "in"
        ) >= 1)
        .await
    );
    let port = a.net.local_port();
    a.shutdown().await;
    b.shutdown().await;

    let data = std::fs::read(&path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&data[..]).unwrap();
    let (mut syn, mut tcp_msgs, mut udp_msgs) = (0, 0, 0);
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let sliced = SlicedPacket::from_ethernet(&pkt.data).unwrap();
        match sliced.transport {
            Some(TransportSlice::Tcp(t)) => {
                assert!(t.source_port() == port || t.destination_port() == port);
                if t.syn() {
                    syn += 1;
                }
                if t.payload().starts_with(b"RA") {
                    tcp_msgs += 1;
                }
            }
            Some(TransportSlice::Udp(u)) => {
                assert!(u.source_port() == port || u.destination_port() == port);
                nano_messages::decode_datagram(u.payload(), Some(Network::Dev)).unwrap();
                udp_msgs += 1;
            }
            _ => {}
        }
    }
    assert!(syn >= 2, "SYN and SYN-ACK");
    assert!(tcp_msgs >= 4, "handshake and more over TCP: {tcp_msgs}");
    assert!(udp_msgs >= 3, "handshake over UDP: {udp_msgs}");
}
