//! Refusal in the kernel: a classic BPF socket filter on the peering listener and the
//! UDP socket that drops packets from the addresses admission refuses anyway, before
//! they cost the node anything.
//!
//! Refusing a connection in user space costs an `accept`, a `close` with the sender's
//! unread data and the wake-ups in between, some 20 µs of the runtime's CPU each; a
//! host cycling through cooled-down addresses can make that ten thousand times a second.
//! A filter on a listening socket sees its SYNs: a dropped SYN never becomes a
//! connection, so the sender's `connect` only retries and times out, and the node's
//! runtime never hears of it. On the UDP socket the filter drops the datagrams of
//! cooled-down and excluded addresses, and of addresses and subnetworks over their
//! receive budget (`udp_budget`) until its window ends, before they are queued for the
//! receive loop; of an address over its handshake budget it drops only the node_id
//! handshakes (comparing the message type byte), so its channels are still heard.
//!
//! The program lists addresses one after another (a few instructions each, run for every
//! packet reaching the socket), then the listener's subnetworks at their connection cap
//! (IPv4 /24, IPv6 /64, compared under a mask), so it holds at most
//! [`KERNEL_FILTER_MAX_ADDRESSES`] entries; the rest are still refused at `accept` as
//! before. Connections accepted from the listener
//! inherit its filter; admitted ones have it detached, so their packets do not pay for it.
//! Elsewhere than Linux, or when the kernel refuses the program, nothing is filtered and
//! admission refuses at `accept` alone.

use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Inner;

/// Most entries (addresses and subnetworks) one filter program lists. Each IPv6 address
/// takes 9 instructions, each IPv6 subnetwork 5 and each IPv4 address or subnetwork 2, and the kernel runs them in order for every packet reaching the
/// socket (every SYN for the listener, every datagram for UDP): 256 keeps the program
/// (at most 2,312 instructions) well under the kernel's 4,096 and its cost per packet
/// a fraction of a refused connection's. When more are refused, the ones refused the
/// longest are listed (see `Admission::refused_addresses`).
pub const KERNEL_FILTER_MAX_ADDRESSES: usize = 256;

/// Least time between two rebuilds of the programs: changes within it (an address
/// reaching its cap and leaving it at every renewal of an idle flood) are applied
/// together, so following admission costs at most a hundred rebuilds a second.
const REBUILD_SPACING: Duration = Duration::from_millis(10);

/// How long the follower sleeps when nothing listed ends (a change wakes it earlier).
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// Keeps the filters on the node's sockets equal to the addresses admission refuses
/// outright, until the node stops: rebuilt when that set changes and when the earliest
/// listed refusal ends.
pub(super) async fn follow_admission(inner: Arc<Inner>) {
    loop {
        let ends = rebuild(&inner);
        let wait = ends.map_or(IDLE_WAKE, |t| {
            t.saturating_duration_since(Instant::now()) + Duration::from_millis(1)
        });
        tokio::select! {
            _ = inner.token.cancelled() => break,
            _ = inner.admission.changed.notified() => {}
            _ = inner.udp_budget.changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            _ = inner.token.cancelled() => break,
            _ = tokio::time::sleep(REBUILD_SPACING) => {}
        }
    }
}

/// Applies admission's refused set to both sockets; returns when the earliest listed
/// refusal ends.
fn rebuild(inner: &Inner) -> Option<Instant> {
    let (listener, ends) = inner
        .admission
        .refused_addresses(true, KERNEL_FILTER_MAX_ADDRESSES);
    let full = inner
        .admission
        .full_subnets(KERNEL_FILTER_MAX_ADDRESSES - listener.len());
    // The UDP socket's refusals (the same strikes, so `ends` covers them), then the
    // addresses and subnetworks over their receive budget, and the addresses over their
    // handshake budget, until the budget's window ends.
    let (mut udp, _) = inner
        .admission
        .refused_addresses(false, KERNEL_FILTER_MAX_ADDRESSES);
    let over = inner.udp_budget.over_budget(Instant::now());
    for a in over.addresses {
        if !udp.contains(&a) {
            udp.push(a);
        }
    }
    let ends = [ends, over.ends].into_iter().flatten().min();
    for (which, list, subnets, handshakes) in [
        (Socket::Listener, listener, full, Vec::new()),
        (Socket::Udp, udp, over.subnets, over.handshakes),
    ] {
        match inner.kernel_filter.set(which, &list, &subnets, &handshakes) {
            Ok(true) => inner.stats.inc("kernel_filter", "rebuilt", which.as_str()),
            Ok(false) => {}
            Err(e) => {
                inner.stats.inc("kernel_filter", "refused", which.as_str());
                tracing::debug!(error = %e, socket = which.as_str(), "kernel filter not applied");
            }
        }
    }
    ends
}

/// One socket the filter is kept on (a duplicate descriptor of the node's socket;
/// options set through it apply to the socket itself).
#[cfg(target_os = "linux")]
struct Target {
    fd: std::os::fd::OwnedFd,
    /// What the current program lists, so an unchanged set is not re-attached.
    listed: Vec<Ipv6Addr>,
    /// The subnetworks it lists, as their network addresses.
    subnets: Vec<Ipv6Addr>,
    /// The addresses whose node_id handshakes it drops.
    handshakes: Vec<Ipv6Addr>,
}

/// The filters on the node's sockets. Cheap when disabled or empty.
pub struct KernelFilter {
    enabled: bool,
    #[cfg(target_os = "linux")]
    targets: Mutex<[Option<Target>; 2]>,
    #[cfg(not(target_os = "linux"))]
    targets: Mutex<()>,
}

/// Which socket a filter goes on: the listener lists over-cap addresses and subnetworks
/// too (a new connection from them would be refused), the UDP socket cooled-down and
/// excluded ones and those over their receive budget, not those at a channel cap (its
/// datagrams from an address at its channel cap include its peers' own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    Listener = 0,
    Udp = 1,
}

impl Socket {
    fn as_str(self) -> &'static str {
        match self {
            Socket::Listener => "tcp",
            Socket::Udp => "udp",
        }
    }
}

impl KernelFilter {
    pub fn new(enabled: bool) -> Self {
        KernelFilter {
            enabled: enabled && cfg!(target_os = "linux"),
            targets: Mutex::new(Default::default()),
        }
    }

    /// Whether packets can be filtered in the kernel on this system.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Starts keeping a filter on `fd` (the listener or the UDP socket); false when
    /// filtering is off or the descriptor could not be duplicated.
    #[cfg(target_os = "linux")]
    pub fn add(&self, which: Socket, fd: std::os::fd::BorrowedFd<'_>) -> bool {
        if !self.enabled {
            return false;
        }
        let Ok(fd) = fd.try_clone_to_owned() else {
            return false;
        };
        self.lock()[which as usize] = Some(Target {
            fd,
            listed: Vec::new(),
            subnets: Vec::new(),
            handshakes: Vec::new(),
        });
        true
    }

    #[cfg(target_os = "linux")]
    fn lock(&self) -> std::sync::MutexGuard<'_, [Option<Target>; 2]> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the filter on `which` by one dropping packets from `addrs` and from the
    /// subnetworks whose network addresses are `subnets`, and node_id handshake
    /// datagrams from `handshakes` (UDP only; at most [`KERNEL_FILTER_MAX_ADDRESSES`]
    /// entries in all are listed, addresses first, then subnetworks). Ok(false) when
    /// nothing changed or there is no such socket; an error when the kernel refused the
    /// program.
    pub fn set(
        &self,
        which: Socket,
        addrs: &[Ipv6Addr],
        subnets: &[Ipv6Addr],
        handshakes: &[Ipv6Addr],
    ) -> std::io::Result<bool> {
        #[cfg(target_os = "linux")]
        {
            if !self.enabled {
                return Ok(false);
            }
            let addrs = &addrs[..addrs.len().min(KERNEL_FILTER_MAX_ADDRESSES)];
            let room = KERNEL_FILTER_MAX_ADDRESSES - addrs.len();
            let subnets = &subnets[..subnets.len().min(room)];
            let room = room - subnets.len();
            let handshakes = match which {
                Socket::Udp => &handshakes[..handshakes.len().min(room)],
                Socket::Listener => &[],
            };
            let mut t = self.lock();
            let Some(target) = t[which as usize].as_mut() else {
                return Ok(false);
            };
            if target.listed == addrs
                && target.subnets == subnets
                && target.handshakes == handshakes
            {
                return Ok(false);
            }
            use std::os::fd::AsFd;
            if addrs.is_empty() && subnets.is_empty() && handshakes.is_empty() {
                linux::detach(target.fd.as_fd())?;
            } else {
                linux::attach(target.fd.as_fd(), &program(addrs, subnets, handshakes))?;
            }
            target.listed = addrs.to_vec();
            target.subnets = subnets.to_vec();
            target.handshakes = handshakes.to_vec();
            Ok(true)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (which, addrs, subnets, handshakes);
            Ok(false)
        }
    }

    /// The subnetworks (network addresses) the filter on `which` drops now.
    pub fn listed_subnets(&self, which: Socket) -> Vec<Ipv6Addr> {
        self.listing(which, Listing::Subnets)
    }

    /// The addresses the filter on `which` drops now.
    pub fn listed(&self, which: Socket) -> Vec<Ipv6Addr> {
        self.listing(which, Listing::Addresses)
    }

    /// The addresses whose node_id handshakes the filter on `which` drops now.
    pub fn listed_handshakes(&self, which: Socket) -> Vec<Ipv6Addr> {
        self.listing(which, Listing::Handshakes)
    }

    fn listing(&self, which: Socket, what: Listing) -> Vec<Ipv6Addr> {
        #[cfg(target_os = "linux")]
        {
            self.lock()[which as usize]
                .as_ref()
                .map(|t| match what {
                    Listing::Addresses => t.listed.clone(),
                    Listing::Subnets => t.subnets.clone(),
                    Listing::Handshakes => t.handshakes.clone(),
                })
                .unwrap_or_default()
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (which, what);
            Vec::new()
        }
    }

    /// Lets go of the sockets (the node stops; the duplicates would keep them open).
    pub fn clear(&self) {
        #[cfg(target_os = "linux")]
        {
            *self.lock() = [None, None];
        }
    }
}

/// Which of a filter's lists to read.
#[derive(Clone, Copy)]
enum Listing {
    Addresses,
    Subnets,
    Handshakes,
}

/// Removes an inherited filter from an accepted connection, so an admitted peer's
/// packets are not run through the listener's list. Best effort: a failure only costs
/// that connection the filter's time per packet.
pub fn detach_inherited(fd: std::os::fd::BorrowedFd<'_>) {
    #[cfg(target_os = "linux")]
    let _ = linux::detach(fd);
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
/// `BPF_LD | BPF_W | BPF_ABS` (the first two are 0).
const BPF_LD_W_ABS: u16 = 0x20;
/// `BPF_LD | BPF_B | BPF_ABS`: one byte of the packet.
const BPF_LD_B_ABS: u16 = 0x30;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;
/// `BPF_ALU | BPF_AND | BPF_K`: the accumulator masked by a constant.
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
/// An IPv4 subnetwork's mask: its first 24 bits (as admission counts subnetworks).
const IPV4_SUBNET_MASK: u32 = 0xffff_ff00;
/// Loads relative to the network header, whatever the socket type's data offset
/// (`SKF_NET_OFF`), and the packet's link-layer protocol (`SKF_AD_OFF + SKF_AD_PROTOCOL`).
const SKF_NET_OFF: i32 = -0x10_0000;
const SKF_AD_PROTOCOL: i32 = -0x1000;
const ETH_P_IP: u32 = 0x0800;
const ETH_P_IPV6: u32 = 0x86dd;
/// Offsets of the source address in the IPv4 and IPv6 headers.
const IPV4_SRC: i32 = 12;
const IPV6_SRC: i32 = 8;
/// Where a datagram's message type is for a UDP socket's filter, which sees the packet
/// from its UDP header (8 bytes) on.
const UDP_MESSAGE_TYPE: u32 = 8 + super::udp_budget::MESSAGE_TYPE_OFFSET as u32;
const NODE_ID_HANDSHAKE: u32 = nano_messages::MessageType::NodeIdHandshake as u32;
const ACCEPT: u32 = u32::MAX;
const DROP: u32 = 0;

/// One classic BPF instruction, as `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

fn load_net(offset: i32) -> Insn {
    insn(BPF_LD_W_ABS, 0, 0, (SKF_NET_OFF + offset) as u32)
}

/// The IPv4 ones of `addrs` (IPv4-mapped) as numbers, and the others as four words.
fn by_family(addrs: &[Ipv6Addr]) -> (Vec<u32>, Vec<[u32; 4]>) {
    let v4 = addrs
        .iter()
        .filter_map(|a| a.to_ipv4_mapped())
        .map(u32::from)
        .collect();
    let v6 = addrs
        .iter()
        .filter(|a| a.to_ipv4_mapped().is_none())
        .map(|a| {
            let o = a.octets();
            std::array::from_fn(|i| u32::from_be_bytes(o[i * 4..i * 4 + 4].try_into().unwrap()))
        })
        .collect();
    (v4, v6)
}

/// The program dropping packets whose source is one of `addrs`, or in one of the
/// subnetworks whose network addresses are `subnets` (an IPv4 /24 or an IPv6 /64, as
/// [`super::subnetwork`] gives them), and the node_id handshake datagrams of
/// `handshakes` (for the UDP socket: its message type byte is compared), accepting
/// everything else. IPv4-mapped addresses match IPv4 packets, which is how a dual-stack
/// socket sees IPv4 peers. Handshake entries come after the subnetworks, so an address
/// in a dropped subnetwork is dropped whatever it sends.
pub fn program(addrs: &[Ipv6Addr], subnets: &[Ipv6Addr], handshakes: &[Ipv6Addr]) -> Vec<Insn> {
    let (v4, v6) = by_family(addrs);
    let (v4_nets, v6_nets) = by_family(subnets);
    let (v4_hs, v6_hs) = by_family(handshakes);
    let mut p = vec![
        insn(BPF_LD_W_ABS, 0, 0, SKF_AD_PROTOCOL as u32),
        // IPv4: over the jump to the IPv6 part.
        insn(BPF_JMP_JEQ_K, 1, 0, ETH_P_IP),
    ];
    // The IPv4 part: a load, two instructions per address, then the source masked to
    // its /24 and two per subnetwork, then the source again and two per handshake entry,
    // the accept.
    let nets_len = if v4_nets.is_empty() {
        0
    } else {
        1 + 2 * v4_nets.len()
    };
    let hs_len = if v4_hs.is_empty() {
        0
    } else {
        1 + 2 * v4_hs.len()
    };
    let v4_len = 1 + 2 * v4.len() + nets_len + hs_len + 1;
    p.push(insn(BPF_JMP_JA, 0, 0, v4_len as u32));
    p.push(load_net(IPV4_SRC));
    for a in &v4 {
        p.push(insn(BPF_JMP_JEQ_K, 0, 1, *a));
        p.push(insn(BPF_RET_K, 0, 0, DROP));
    }
    if !v4_nets.is_empty() {
        p.push(insn(BPF_ALU_AND_K, 0, 0, IPV4_SUBNET_MASK));
        for net in &v4_nets {
            p.push(insn(BPF_JMP_JEQ_K, 0, 1, net & IPV4_SUBNET_MASK));
            p.push(insn(BPF_RET_K, 0, 0, DROP));
        }
    }
    // Jumps to the handshake check at the end are patched once its place is known.
    let mut to_check = Vec::new();
    if !v4_hs.is_empty() {
        p.push(load_net(IPV4_SRC));
        for a in &v4_hs {
            p.push(insn(BPF_JMP_JEQ_K, 0, 1, *a));
            to_check.push(p.len());
            p.push(insn(BPF_JMP_JA, 0, 0, 0));
        }
    }
    p.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    // The IPv6 part (the accumulator still holds the protocol; neither family is
    // accepted): each address compares its four words, a mismatch skipping to the next
    // address.
    p.push(insn(BPF_JMP_JEQ_K, 1, 0, ETH_P_IPV6));
    p.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    for words in &v6 {
        push_v6_match(&mut p, words);
        p.push(insn(BPF_RET_K, 0, 0, DROP));
    }
    // A /64 compares the first two words only.
    for words in &v6_nets {
        push_v6_match(&mut p, &words[..2]);
        p.push(insn(BPF_RET_K, 0, 0, DROP));
    }
    for words in &v6_hs {
        push_v6_match(&mut p, words);
        to_check.push(p.len());
        p.push(insn(BPF_JMP_JA, 0, 0, 0));
    }
    p.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    if !to_check.is_empty() {
        let check = p.len();
        for at in to_check {
            p[at].k = (check - at - 1) as u32;
        }
        p.push(insn(BPF_LD_B_ABS, 0, 0, UDP_MESSAGE_TYPE));
        p.push(insn(BPF_JMP_JEQ_K, 0, 1, NODE_ID_HANDSHAKE));
        p.push(insn(BPF_RET_K, 0, 0, DROP));
        p.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    }
    p
}

/// Compares the source's first `words.len()` IPv6 words with `words`; a mismatch jumps
/// over the instruction that follows.
fn push_v6_match(p: &mut Vec<Insn>, words: &[u32]) {
    let n = words.len();
    for (i, w) in words.iter().enumerate() {
        let skip = (2 * (n - i) - 1) as u8;
        p.push(load_net(IPV6_SRC + 4 * i as i32));
        p.push(insn(BPF_JMP_JEQ_K, 0, skip, *w));
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    use super::Insn;

    /// `struct sock_fprog`.
    #[repr(C)]
    struct Prog {
        len: u16,
        filter: *const Insn,
    }

    pub(super) fn attach(fd: BorrowedFd<'_>, program: &[Insn]) -> io::Result<()> {
        let prog = Prog {
            len: u16::try_from(program.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "program too long"))?,
            filter: program.as_ptr(),
        };
        // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies
        // the instructions and keeps no pointer to them.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &prog as *const Prog as *const libc::c_void,
                std::mem::size_of::<Prog>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) fn detach(fd: BorrowedFd<'_>) -> io::Result<()> {
        let zero: libc::c_int = 0;
        // SAFETY: a plain option write of an int the call only reads.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                &zero as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // No filter attached is not a failure.
        if r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn program_fits_the_kernel_limit_and_jumps_stay_in_range() {
        let mut addrs: Vec<Ipv6Addr> = (0..KERNEL_FILTER_MAX_ADDRESSES as u32 / 2)
            .map(|i| Ipv4Addr::from(0x0a00_0000 + i).to_ipv6_mapped())
            .collect();
        addrs.extend(
            (0..KERNEL_FILTER_MAX_ADDRESSES as u16 / 2)
                .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)),
        );
        let p = program(&addrs, &[], &[]);
        assert!(p.len() < 4096);
        for (i, ins) in p.iter().enumerate() {
            if ins.code == BPF_JMP_JEQ_K {
                assert!(
                    i + 1 + (ins.jf as usize) < p.len(),
                    "jump out of the program"
                );
            }
        }
        // Every IPv6 address only: the 9-instruction entries still fit in a jump.
        let v6: Vec<Ipv6Addr> = (0..KERNEL_FILTER_MAX_ADDRESSES as u16)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, i))
            .collect();
        assert_eq!(
            program(&v6, &[], &[]).len(),
            9 * KERNEL_FILTER_MAX_ADDRESSES + 8
        );
    }

    /// Runs a classic BPF program over an IP header the way the kernel's loads see it.
    fn run(p: &[Insn], proto: u32, net: &[u8]) -> u32 {
        run_udp(p, proto, net, &[])
    }

    /// As [`run`], with `udp` (the UDP header and payload) where the program's absolute
    /// loads read, as on a UDP socket.
    fn run_udp(p: &[Insn], proto: u32, net: &[u8], udp: &[u8]) -> u32 {
        let mut a: u32 = 0;
        let mut pc = 0;
        for _ in 0..10_000 {
            let ins = p[pc];
            match ins.code {
                BPF_LD_W_ABS => {
                    let k = ins.k as i32;
                    a = if k == SKF_AD_PROTOCOL {
                        proto
                    } else {
                        let off = (k - SKF_NET_OFF) as usize;
                        u32::from_be_bytes(net[off..off + 4].try_into().unwrap())
                    };
                    pc += 1;
                }
                BPF_LD_B_ABS => {
                    // A load past the packet ends the program with a drop.
                    let Some(b) = udp.get(ins.k as usize) else {
                        return DROP;
                    };
                    a = u32::from(*b);
                    pc += 1;
                }
                BPF_JMP_JEQ_K => {
                    pc += 1 + if a == ins.k { ins.jt } else { ins.jf } as usize;
                }
                BPF_JMP_JA => pc += 1 + ins.k as usize,
                BPF_ALU_AND_K => {
                    a &= ins.k;
                    pc += 1;
                }
                BPF_RET_K => return ins.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
        panic!("program did not end");
    }

    fn v4_header(src: Ipv4Addr) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[12..16].copy_from_slice(&src.octets());
        h
    }

    fn v6_header(src: Ipv6Addr) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        h[8..24].copy_from_slice(&src.octets());
        h
    }

    #[test]
    fn drops_listed_sources_of_both_families_only() {
        let listed_v4 = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 1, 7)];
        let listed_v6 = [
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::LOCALHOST,
        ];
        let addrs: Vec<Ipv6Addr> = listed_v4
            .iter()
            .map(|a| a.to_ipv6_mapped())
            .chain(listed_v6)
            .collect();
        let p = program(&addrs, &[], &[]);
        for a in listed_v4 {
            assert_eq!(run(&p, ETH_P_IP, &v4_header(a)), DROP, "{a}");
        }
        for a in listed_v6 {
            assert_eq!(run(&p, ETH_P_IPV6, &v6_header(a)), DROP, "{a}");
        }
        let unlisted_v4 = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 1)];
        for a in unlisted_v4 {
            assert_eq!(run(&p, ETH_P_IP, &v4_header(a)), ACCEPT, "{a}");
        }
        // Differing only in the last, or only in the first, word.
        for a in [
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0, 0, 0, 0, 0, 0, 1, 1),
        ] {
            assert_eq!(run(&p, ETH_P_IPV6, &v6_header(a)), ACCEPT, "{a}");
        }
        // Neither IPv4 nor IPv6: accepted.
        assert_eq!(run(&p, 0x0806, &v6_header(Ipv6Addr::LOCALHOST)), ACCEPT);
        // An empty list accepts everything.
        let empty = program(&[], &[], &[]);
        assert_eq!(run(&empty, ETH_P_IP, &v4_header(listed_v4[0])), ACCEPT);
        assert_eq!(
            run(&empty, ETH_P_IPV6, &v6_header(Ipv6Addr::LOCALHOST)),
            ACCEPT
        );
    }

    #[test]
    fn drops_the_listed_subnetworks_of_both_families_only() {
        let addr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped();
        let v4_net = super::super::subnetwork(&Ipv4Addr::new(192, 0, 2, 77).to_ipv6_mapped());
        let v6_net = super::super::subnetwork(&Ipv6Addr::new(0x2001, 0xdb8, 7, 9, 1, 2, 3, 4));
        let nets = [Ipv6Addr::from(v4_net), Ipv6Addr::from(v6_net)];
        let p = program(&[addr], &nets, &[]);
        for a in [
            Ipv4Addr::new(192, 0, 2, 0),
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 255),
            Ipv4Addr::new(10, 0, 0, 1),
        ] {
            assert_eq!(run(&p, ETH_P_IP, &v4_header(a)), DROP, "{a}");
        }
        for a in [
            Ipv4Addr::new(192, 0, 3, 1),
            Ipv4Addr::new(192, 1, 2, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        ] {
            assert_eq!(run(&p, ETH_P_IP, &v4_header(a)), ACCEPT, "{a}");
        }
        for a in [
            Ipv6Addr::new(0x2001, 0xdb8, 7, 9, 0, 0, 0, 0),
            Ipv6Addr::new(0x2001, 0xdb8, 7, 9, 0xffff, 1, 2, 3),
        ] {
            assert_eq!(run(&p, ETH_P_IPV6, &v6_header(a)), DROP, "{a}");
        }
        for a in [
            Ipv6Addr::new(0x2001, 0xdb8, 7, 8, 1, 2, 3, 4),
            Ipv6Addr::new(0x2001, 0xdb9, 7, 9, 1, 2, 3, 4),
            Ipv6Addr::LOCALHOST,
        ] {
            assert_eq!(run(&p, ETH_P_IPV6, &v6_header(a)), ACCEPT, "{a}");
        }
        // A full list of subnetworks of both families fits the kernel's limit.
        let many: Vec<Ipv6Addr> = (0..KERNEL_FILTER_MAX_ADDRESSES as u16)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 0))
            .collect();
        assert_eq!(
            program(&[], &many, &[]).len(),
            5 * KERNEL_FILTER_MAX_ADDRESSES + 8
        );
    }

    /// A UDP header then a message header of type `ty`.
    fn datagram(ty: nano_messages::MessageType) -> Vec<u8> {
        let mut d = vec![0u8; 8];
        d.extend(nano_messages::Header::new(nano_core::Network::Dev, ty, 0).encode());
        d
    }

    #[test]
    fn handshake_entries_drop_only_handshakes_of_their_addresses() {
        use nano_messages::MessageType::{Keepalive, NodeIdHandshake, Publish};
        let hs_v4 = Ipv4Addr::new(203, 0, 113, 9);
        let hs_v6 = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 1);
        // In a dropped subnetwork too: dropped whatever it sends.
        let in_net = Ipv4Addr::new(192, 0, 2, 4);
        let full = Ipv4Addr::new(10, 0, 0, 1);
        let net = Ipv6Addr::from(super::super::subnetwork(&in_net.to_ipv6_mapped()));
        let p = program(
            &[full.to_ipv6_mapped()],
            &[net],
            &[hs_v4.to_ipv6_mapped(), hs_v6, in_net.to_ipv6_mapped()],
        );
        let hs = datagram(NodeIdHandshake);
        for other in [Keepalive, Publish] {
            let d = datagram(other);
            assert_eq!(run_udp(&p, ETH_P_IP, &v4_header(hs_v4), &d), ACCEPT);
            assert_eq!(run_udp(&p, ETH_P_IPV6, &v6_header(hs_v6), &d), ACCEPT);
            assert_eq!(run_udp(&p, ETH_P_IP, &v4_header(in_net), &d), DROP);
            assert_eq!(run_udp(&p, ETH_P_IP, &v4_header(full), &d), DROP);
        }
        assert_eq!(run_udp(&p, ETH_P_IP, &v4_header(hs_v4), &hs), DROP);
        assert_eq!(run_udp(&p, ETH_P_IPV6, &v6_header(hs_v6), &hs), DROP);
        // Unlisted sources send handshakes freely.
        let other_v6 = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 2);
        assert_eq!(run_udp(&p, ETH_P_IPV6, &v6_header(other_v6), &hs), ACCEPT);
        let other_v4 = Ipv4Addr::new(203, 0, 113, 10);
        assert_eq!(run_udp(&p, ETH_P_IP, &v4_header(other_v4), &hs), ACCEPT);
        // Handshake entries add a reload and two instructions per IPv4 address, nine per
        // IPv6 address, and the four of the check block.
        assert_eq!(
            program(&[full.to_ipv6_mapped()], &[net], &[]).len() + 4 + 1 + 2 * 2 + 9,
            p.len()
        );
        // A full list of IPv6 handshake entries stays within the kernel's limit, and
        // every jump lands inside the program.
        let many: Vec<Ipv6Addr> = (0..KERNEL_FILTER_MAX_ADDRESSES as u16)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 1, i))
            .collect();
        let p = program(&[], &[], &many);
        assert!(p.len() < 4096);
        for (i, ins) in p.iter().enumerate() {
            let to = match ins.code {
                BPF_JMP_JA => i + 1 + ins.k as usize,
                BPF_JMP_JEQ_K => i + 1 + ins.jt.max(ins.jf) as usize,
                _ => continue,
            };
            assert!(to < p.len(), "jump out of the program at {i}");
        }
        let last = *many.last().unwrap();
        assert_eq!(run_udp(&p, ETH_P_IPV6, &v6_header(last), &hs), DROP);
        assert_eq!(
            run_udp(&p, ETH_P_IPV6, &v6_header(last), &datagram(Keepalive)),
            ACCEPT
        );
    }
}
