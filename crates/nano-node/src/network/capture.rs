//! `node.capture_path`: every message this node sends or receives (TCP and UDP) written
//! to a pcap file as synthetic Ethernet/IPv6/TCP|UDP frames with the real endpoints, so
//! the node's own traffic can be imported into nanocap. TCP flows get a SYN/SYN-ACK and
//! consistent sequence numbers per direction so the analyzer can reassemble them.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddrV6;
use std::path::Path;
use std::sync::Mutex;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapPacket, PcapWriter};

/// Largest TCP payload per synthetic segment (the IPv6 length field is 16 bits).
const MAX_SEGMENT: usize = 60_000;

pub(crate) struct Capture {
    /// None once flushed and closed at stop.
    writer: Mutex<Option<PcapWriter<BufWriter<File>>>>,
    /// Next sequence number per direction (src, dst).
    seq: Mutex<HashMap<(SocketAddrV6, SocketAddrV6), u32>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Capture {
    pub(crate) fn open(path: &Path) -> std::io::Result<Capture> {
        let file = BufWriter::with_capacity(64 * 1024, File::create(path)?);
        let writer = PcapWriter::new(file).map_err(std::io::Error::other)?;
        Ok(Capture {
            writer: Mutex::new(Some(writer)),
            seq: Mutex::new(HashMap::new()),
        })
    }

    fn write(&self, frame: &[u8]) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if let Some(w) = lock(&self.writer).as_mut() {
            let _ = w.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame));
        }
    }

    fn builder(
        src: &SocketAddrV6,
        dst: &SocketAddrV6,
    ) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6(
            src.ip().octets(),
            dst.ip().octets(),
            64,
        )
    }

    /// A new TCP connection from `client` to `server`: SYN and SYN-ACK.
    pub(crate) fn tcp_open(&self, client: SocketAddrV6, server: SocketAddrV6) {
        {
            let mut seq = lock(&self.seq);
            seq.insert((client, server), 1);
            seq.insert((server, client), 1);
        }
        let mut out = Vec::new();
        let _ = Self::builder(&client, &server)
            .tcp(client.port(), server.port(), 0, 65535)
            .syn()
            .write(&mut out, &[]);
        self.write(&out);
        out.clear();
        let _ = Self::builder(&server, &client)
            .tcp(server.port(), client.port(), 0, 65535)
            .syn()
            .ack(1)
            .write(&mut out, &[]);
        self.write(&out);
    }

    /// Message bytes sent from `src` to `dst` on a TCP connection.
    pub(crate) fn tcp(&self, src: SocketAddrV6, dst: SocketAddrV6, bytes: &[u8]) {
        for chunk in bytes.chunks(MAX_SEGMENT) {
            let seq = {
                let mut m = lock(&self.seq);
                // No entry: the connection was already closed in the file (a writer
                // finishing after the reader); bytes after the FIN would be dropped by
                // any reassembler, and restarting at 1 would overlap earlier data.
                let Some(s) = m.get_mut(&(src, dst)) else {
                    return;
                };
                let cur = *s;
                *s = s.wrapping_add(chunk.len() as u32);
                cur
            };
            let mut out = Vec::with_capacity(chunk.len() + 80);
            let _ = Self::builder(&src, &dst)
                .tcp(src.port(), dst.port(), seq, 65535)
                .ack(1)
                .psh()
                .write(&mut out, chunk);
            self.write(&out);
        }
    }

    /// The end of a TCP connection: the node closes its socket, so a FIN is written in
    /// each direction (a reassembler closes a flow only when both directions ended).
    pub(crate) fn tcp_close(&self, src: SocketAddrV6, dst: SocketAddrV6) {
        let (fwd, back) = {
            let mut m = lock(&self.seq);
            (m.remove(&(src, dst)), m.remove(&(dst, src)))
        };
        for (from, to, seq, ack) in [(src, dst, fwd, back), (dst, src, back, fwd)] {
            // Already closed (or never opened): nothing to end.
            let Some(seq) = seq else { continue };
            let mut out = Vec::new();
            let _ = Self::builder(&from, &to)
                .tcp(from.port(), to.port(), seq, 65535)
                .fin()
                .ack(ack.unwrap_or(1))
                .write(&mut out, &[]);
            self.write(&out);
        }
    }

    /// One datagram.
    pub(crate) fn udp(&self, src: SocketAddrV6, dst: SocketAddrV6, bytes: &[u8]) {
        let mut out = Vec::with_capacity(bytes.len() + 70);
        let _ = Self::builder(&src, &dst)
            .udp(src.port(), dst.port())
            .write(&mut out, bytes);
        self.write(&out);
    }

    /// Flushes and closes the file; later frames are ignored.
    pub(crate) fn close(&self) {
        use std::io::Write;
        if let Some(w) = lock(&self.writer).take() {
            let _ = w.into_writer().flush();
        }
    }
}
