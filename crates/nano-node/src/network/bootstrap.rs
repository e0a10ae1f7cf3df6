//! The hand-off point for legacy bootstrap: an accepted TCP connection whose first
//! message is a bootstrap request (bulk_pull, bulk_pull_account, bulk_push,
//! frontier_req) is given, with its already-read bytes, to a [`BootstrapServer`]. The
//! bootstrap work plugs in here later; until then such connections are closed.

use std::net::SocketAddrV6;

use bytes::BytesMut;
use nano_messages::Message;
use tokio::net::TcpStream;

/// A classified legacy bootstrap connection.
pub struct BootstrapConnection {
    pub stream: TcpStream,
    /// Bytes read after the first request (the client may have pipelined more).
    pub read_buf: BytesMut,
    /// The request that classified the connection.
    pub first: Message,
    pub remote: SocketAddrV6,
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
