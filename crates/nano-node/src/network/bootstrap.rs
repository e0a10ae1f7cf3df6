//! The hand-off point for legacy bootstrap: an accepted TCP connection whose first
//! message is a bootstrap request (bulk_pull, bulk_pull_account, bulk_push,
//! frontier_req) is given, with its already-read bytes, to a [`BootstrapServer`]. The
//! bootstrap work plugs in here later; until then such connections are closed.

use std::net::SocketAddrV6;

use bytes::BytesMut;
use nano_messages::Message;
use tokio::net::TcpStream;

pub use super::admission::AdmissionTicket;

/// A classified legacy bootstrap connection.
pub struct BootstrapConnection {
    pub stream: TcpStream,
    /// Bytes read after the first request (the client may have pipelined more).
    pub read_buf: BytesMut,
    /// The request that classified the connection.
    pub first: Message,
    pub remote: SocketAddrV6,
    /// The connection's admission slot (per-IP, per-subnetwork and global inbound caps):
    /// held for as long as the connection is served, so bootstrap sessions count against
    /// the same caps as realtime ones.
    pub ticket: AdmissionTicket,
}

/// Serves legacy bootstrap connections. Called on a network task: implementations spawn
/// their own task and return at once.
pub trait BootstrapServer: Send + Sync {
    fn serve(&self, conn: BootstrapConnection);
}

/// The default: no bootstrap server, the connection is closed.
pub struct CloseBootstrap;

impl BootstrapServer for CloseBootstrap {
    fn serve(&self, conn: BootstrapConnection) {
        drop(conn);
    }
}
