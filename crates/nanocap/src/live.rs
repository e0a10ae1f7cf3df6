//! Live capture through libpcap (cargo feature `live`): interface listing and selection,
//! BPF filters (also used to filter file imports), and the received/dropped counters
//! reported when a capture stops.

use std::collections::HashMap;
use std::os::unix::io::AsRawFd;

use pcap::{Active, BpfProgram, Capture, Device, Linktype};

/// Lines for `--if`: each interface with its addresses.
pub fn list_interfaces() -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for d in Device::list()? {
        let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
        out.push(format!("{}\t{}", d.name, addrs.join(", ")));
    }
    Ok(out)
}

/// Picks the interface: by name, else by one of its addresses, else the first non-loopback
/// interface with an IPv4 address.
fn choose(interface: &str, device_ip: &str) -> anyhow::Result<Device> {
    let devices = Device::list()?;
    if !interface.is_empty() {
        return devices
            .into_iter()
            .find(|d| d.name == interface)
            .ok_or_else(|| anyhow::anyhow!("no interface named {interface}"));
    }
    if !device_ip.is_empty() {
        return devices
            .into_iter()
            .find(|d| d.addresses.iter().any(|a| a.addr.to_string() == device_ip))
            .ok_or_else(|| anyhow::anyhow!("no interface has address {device_ip}"));
    }
    devices
        .into_iter()
        .find(|d| !d.flags.is_loopback() && d.addresses.iter().any(|a| a.addr.is_ipv4()))
        .ok_or_else(|| anyhow::anyhow!("no usable interface found; set capture.interface"))
}

/// An open live capture.
pub struct LiveCapture {
    cap: Capture<Active>,
    link_type: u32,
    pub name: String,
}

/// One captured packet, copied out of libpcap's buffer.
pub struct LivePacket {
    pub ts_usec: i64,
    pub link_type: u32,
    pub data: Vec<u8>,
}

impl LiveCapture {
    /// Opens the chosen interface in non-blocking mode. A blocking read cannot be relied
    /// on to return: with TPACKET_V3, libpcap on Linux ignores the read timeout and waits
    /// in `poll` until a packet arrives, so an idle interface never saw a stop request.
    /// [`LiveCapture::next_packet`] waits on the descriptor itself, with a bound.
    pub fn open(interface: &str, device_ip: &str, filter: &str) -> anyhow::Result<LiveCapture> {
        let dev = choose(interface, device_ip)?;
        let name = dev.name.clone();
        let mut cap = Capture::from_device(dev)?
            .snaplen(65535)
            .timeout(100)
            .immediate_mode(true)
            .buffer_size(16 << 20)
            .open()?
            .setnonblock()?;
        if !filter.trim().is_empty() {
            cap.filter(filter, true)?;
        }
        let link_type = cap.get_datalink().0 as u32;
        Ok(LiveCapture {
            cap,
            link_type,
            name,
        })
    }

    /// Next packet; `Ok(None)` when none arrived within [`WAIT_MS`].
    // time_t and suseconds_t are i64 here but not on every platform.
    #[allow(clippy::useless_conversion)]
    pub fn next_packet(&mut self) -> anyhow::Result<Option<LivePacket>> {
        if let Some(p) = self.try_packet()? {
            return Ok(Some(p));
        }
        let mut pfd = libc::pollfd {
            fd: self.cap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, WAIT_MS) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        self.try_packet()
    }

    #[allow(clippy::useless_conversion)]
    fn try_packet(&mut self) -> anyhow::Result<Option<LivePacket>> {
        match self.cap.next_packet() {
            Ok(p) => {
                let ts = p.header.ts;
                Ok(Some(LivePacket {
                    ts_usec: i64::from(ts.tv_sec) * 1_000_000 + i64::from(ts.tv_usec),
                    link_type: self.link_type,
                    data: p.data.to_vec(),
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// libpcap's (received, dropped, if_dropped).
    pub fn stats(&mut self) -> (u64, u64, u64) {
        match self.cap.stats() {
            Ok(s) => (
                u64::from(s.received),
                u64::from(s.dropped),
                u64::from(s.if_dropped),
            ),
            Err(_) => (0, 0, 0),
        }
    }
}

/// Longest wait for a packet before the capture loop looks at stop requests again.
pub const WAIT_MS: i32 = 100;

/// A BPF filter applied to file input, compiled once per link type.
pub struct FileFilter {
    expr: String,
    programs: HashMap<u32, Option<BpfProgram>>,
}

impl FileFilter {
    /// `None` for an empty expression.
    pub fn new(expr: &str) -> anyhow::Result<Option<FileFilter>> {
        if expr.trim().is_empty() {
            return Ok(None);
        }
        // Validate early against Ethernet so a typo fails before the import starts.
        Capture::dead(Linktype(1))?.compile(expr, true)?;
        Ok(Some(FileFilter {
            expr: expr.to_string(),
            programs: HashMap::new(),
        }))
    }

    /// Whether the frame passes; frames of link types the filter cannot compile for pass.
    pub fn matches(&mut self, link_type: u32, data: &[u8]) -> bool {
        let expr = &self.expr;
        let prog = self.programs.entry(link_type).or_insert_with(|| {
            Capture::dead(Linktype(link_type as i32))
                .ok()
                .and_then(|c| c.compile(expr, true).ok())
        });
        match prog {
            Some(p) => p.filter(data),
            None => true,
        }
    }
}
