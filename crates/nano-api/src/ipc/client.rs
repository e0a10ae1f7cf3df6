//! An IPC client (TCP or Unix socket) that keeps its connection for many requests, and a
//! pool of such connections for the out-of-process RPC server (`process.ipc_address`,
//! `process.ipc_port`, `process.num_ipc_connections`).

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use super::{request_frame, Encoding, MAX_PAYLOAD};

type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// One persistent IPC connection.
pub struct IpcClient {
    reader: Reader,
    writer: Writer,
    timeout: Duration,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "IPC request timed out")
}

impl IpcClient {
    fn from_halves(r: Box<dyn AsyncRead + Send + Unpin>, w: Writer) -> IpcClient {
        IpcClient {
            reader: BufReader::with_capacity(16 * 1024, r),
            writer: w,
            timeout: Duration::from_secs(30),
        }
    }

    pub async fn connect_tcp(host: &str, port: u16) -> io::Result<IpcClient> {
        let s = tokio::net::TcpStream::connect((host, port)).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Self::from_halves(Box::new(r), Box::new(w)))
    }

    #[cfg(unix)]
    pub async fn connect_unix(path: &std::path::Path) -> io::Result<IpcClient> {
        let s = tokio::net::UnixStream::connect(path).await?;
        let (r, w) = s.into_split();
        Ok(Self::from_halves(Box::new(r), Box::new(w)))
    }

    /// How long a request (write and answer) may take; 30 s by default.
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// Sends one request and returns the answer's payload.
    pub async fn request(&mut self, enc: Encoding, payload: &[u8]) -> io::Result<Vec<u8>> {
        if payload.len() > MAX_PAYLOAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPC request too large",
            ));
        }
        let frame = request_frame(enc, payload);
        timeout(self.timeout, self.writer.write_all(&frame))
            .await
            .map_err(|_| timed_out())??;
        self.read_frame().await
    }

    /// Reads the next frame the server sends (an answer, or an event after subscribing).
    pub async fn read_frame(&mut self) -> io::Result<Vec<u8>> {
        let t = self.timeout;
        let len = timeout(t, self.reader.read_u32())
            .await
            .map_err(|_| timed_out())?? as usize;
        if len > MAX_PAYLOAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "IPC answer too large",
            ));
        }
        let mut buf = vec![0u8; len];
        timeout(t, self.reader.read_exact(&mut buf))
            .await
            .map_err(|_| timed_out())??;
        Ok(buf)
    }

    /// Writes raw bytes (tests of malformed frames).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// An RPC v1 request (encoding 1).
    pub async fn json_v1(&mut self, req: &Value) -> io::Result<Value> {
        let body = self
            .request(Encoding::JsonV1, req.to_string().as_bytes())
            .await?;
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// An IPC 2.0 JSON envelope (encoding 4).
    pub async fn json_v2(&mut self, env: &Value) -> io::Result<Value> {
        let body = self
            .request(Encoding::FlatBuffersJson, env.to_string().as_bytes())
            .await?;
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Where the node's IPC listens.
#[derive(Debug, Clone)]
pub enum IpcTarget {
    Tcp {
        host: String,
        port: u16,
    },
    #[cfg(unix)]
    Unix(PathBuf),
}

/// Up to `size` persistent connections, each used by one request at a time; callers
/// beyond that wait for a free one. A connection that fails is dropped; a request that
/// failed on a reused (possibly stale) connection is retried once on a new one.
pub struct IpcPool {
    target: IpcTarget,
    idle: Mutex<Vec<IpcClient>>,
    permits: Semaphore,
    size: usize,
    timeout: Duration,
}

impl IpcPool {
    pub fn new(target: IpcTarget, size: usize, timeout: Duration) -> IpcPool {
        IpcPool {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
            size: size.max(1),
            timeout,
        }
    }

    /// Requests it carries at once.
    pub fn size(&self) -> usize {
        self.size
    }

    async fn connect(&self) -> io::Result<IpcClient> {
        let mut c = match &self.target {
            IpcTarget::Tcp { host, port } => {
                timeout(self.timeout, IpcClient::connect_tcp(host, *port))
                    .await
                    .map_err(|_| timed_out())??
            }
            #[cfg(unix)]
            IpcTarget::Unix(p) => timeout(self.timeout, IpcClient::connect_unix(p))
                .await
                .map_err(|_| timed_out())??,
        };
        c.set_timeout(self.timeout);
        Ok(c)
    }

    fn take_idle(&self) -> Option<IpcClient> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_idle(&self, c: IpcClient) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }

    /// One request over a pooled connection.
    pub async fn request(&self, enc: Encoding, payload: &[u8]) -> io::Result<Vec<u8>> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| io::Error::other("IPC pool closed"))?;
        if let Some(mut c) = self.take_idle() {
            match c.request(enc, payload).await {
                Ok(r) => {
                    self.put_idle(c);
                    return Ok(r);
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(e),
                Err(_) => {} // stale: the node restarted or closed it; try a fresh one
            }
        }
        let mut c = self.connect().await?;
        let r = c.request(enc, payload).await?;
        self.put_idle(c);
        Ok(r)
    }
}
