//! Capture file input: opens pcap or pcapng files (told apart by their magic number) and
//! yields frames with their link type and a microsecond timestamp. pcap-file does the
//! parsing; this module keeps per-interface link types and timestamp resolutions for
//! pcapng and counts bytes consumed so an import can show progress.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Microseconds since the Unix epoch.
    pub ts_usec: i64,
    pub link_type: u32,
    pub data: &'a [u8],
}

/// Counts bytes pulled from the file, so progress can be shown without owning the reader.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Inner = CountingReader<BufReader<File>>;

enum Kind {
    Pcap {
        reader: PcapReader<Inner>,
        link_type: u32,
    },
    PcapNg {
        reader: PcapNgReader<Inner>,
        /// (link type, timestamp units per second) per interface id.
        interfaces: Vec<(u32, u64)>,
    },
}

/// A pcap or pcapng file opened for reading.
pub struct CaptureFile {
    kind: Kind,
    bytes_read: Arc<AtomicU64>,
    total_bytes: u64,
    done: bool,
    /// pcapng frames are copied here: the block borrow cannot leave the read loop.
    scratch: Vec<u8>,
}

/// Converts a pcapng `if_tsresol` value to units per second.
fn tsresol_units(v: u8) -> u64 {
    let exp = u32::from(v & 0x7f);
    let base: u64 = if v & 0x80 == 0 { 10 } else { 2 };
    base.checked_pow(exp).unwrap_or(1_000_000).max(1)
}

fn to_usec(raw: u128, units_per_sec: u64) -> i64 {
    let units = u128::from(units_per_sec.max(1));
    let usec = if units == 1_000_000 {
        raw
    } else {
        raw.saturating_mul(1_000_000) / units
    };
    i64::try_from(usec).unwrap_or(i64::MAX)
}

impl CaptureFile {
    /// Opens a capture file; fails on an unreadable file or unknown magic number.
    pub fn open(path: &Path) -> anyhow::Result<CaptureFile> {
        let mut f = File::open(path)?;
        let total_bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut magic = [0u8; 4];
        f.read_exact(&mut magic)
            .map_err(|_| anyhow::anyhow!("file too short to be a capture file"))?;
        drop(f);
        let count = Arc::new(AtomicU64::new(0));
        let inner = CountingReader {
            inner: BufReader::with_capacity(1 << 20, File::open(path)?),
            count: count.clone(),
        };
        let kind = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Kind::PcapNg {
                reader: PcapNgReader::new(inner)
                    .map_err(|e| anyhow::anyhow!("bad pcapng section header: {e}"))?,
                interfaces: Vec::new(),
            },
            _ => {
                let reader =
                    PcapReader::new(inner).map_err(|e| anyhow::anyhow!("not a pcap file: {e}"))?;
                let link_type = u32::from(reader.header().datalink);
                Kind::Pcap { reader, link_type }
            }
        };
        Ok(CaptureFile {
            kind,
            bytes_read: count,
            total_bytes,
            done: false,
            scratch: Vec::new(),
        })
    }

    /// File size, for a progress bar.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// A shared counter of bytes read so far.
    pub fn progress_counter(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    /// Next frame. An error ends the file (a truncated or corrupt file cannot be resynced);
    /// the caller counts it and stops.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, String>> {
        if self.done {
            return None;
        }
        match &mut self.kind {
            Kind::Pcap { reader, link_type } => match reader.next_packet() {
                None => {
                    self.done = true;
                    None
                }
                Some(Err(e)) => {
                    self.done = true;
                    Some(Err(format!("pcap: {e}")))
                }
                Some(Ok(p)) => {
                    let ts = i64::try_from(p.timestamp.as_micros()).unwrap_or(i64::MAX);
                    let data: &[u8] = match p.data {
                        std::borrow::Cow::Borrowed(b) => b,
                        // pcap-file only borrows; an owned buffer would be a library change.
                        std::borrow::Cow::Owned(_) => {
                            return Some(Err("pcap: unexpected owned packet".into()))
                        }
                    };
                    Some(Ok(Frame {
                        ts_usec: ts,
                        link_type: *link_type,
                        data,
                    }))
                }
            },
            Kind::PcapNg { reader, interfaces } => {
                let scratch = &mut self.scratch;
                let (ts_usec, link_type) = loop {
                    let block = match reader.next_block() {
                        None => {
                            self.done = true;
                            return None;
                        }
                        Some(Err(e)) => {
                            self.done = true;
                            return Some(Err(format!("pcapng: {e}")));
                        }
                        Some(Ok(b)) => b,
                    };
                    match block {
                        Block::SectionHeader(_) => interfaces.clear(),
                        Block::InterfaceDescription(idb) => {
                            let mut units = 1_000_000;
                            for opt in &idb.options {
                                if let InterfaceDescriptionOption::IfTsResol(v) = opt {
                                    units = tsresol_units(*v);
                                }
                            }
                            interfaces.push((u32::from(idb.linktype), units));
                        }
                        Block::EnhancedPacket(epb) => {
                            let Some(&(link_type, units)) =
                                interfaces.get(epb.interface_id as usize)
                            else {
                                return Some(Err(format!(
                                    "pcapng: packet for undeclared interface {}",
                                    epb.interface_id
                                )));
                            };
                            scratch.clear();
                            scratch.extend_from_slice(&epb.data);
                            break (to_usec(epb.timestamp.as_nanos(), units), link_type);
                        }
                        Block::SimplePacket(spb) => {
                            let Some(&(link_type, _)) = interfaces.first() else {
                                return Some(Err("pcapng: simple packet without interface".into()));
                            };
                            scratch.clear();
                            scratch.extend_from_slice(&spb.data);
                            break (0, link_type);
                        }
                        _ => continue,
                    }
                };
                Some(Ok(Frame {
                    ts_usec,
                    link_type,
                    data: &self.scratch,
                }))
            }
        }
    }
}
