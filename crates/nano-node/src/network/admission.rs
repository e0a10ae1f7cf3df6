//! Admission of inbound peering connections before a single byte is read, and the
//! exclusion list of misbehaving addresses.
//!
//! Every accepted TCP connection holds an [`AdmissionTicket`] for as long as it is open,
//! whatever it turns out to be (still handshaking, a realtime channel or a legacy
//! bootstrap session), so the per-IP and per-subnetwork caps count the connections an
//! attacker can hold idle, not only the handshaken ones. An address that sends frames
//! that cannot be framed (garbage, an invalid type, an oversized payload), another
//! network's magic or another genesis collects strikes. Each strike cools the address
//! down: it is refused for [`MISBEHAVIOUR_COOLDOWN`] (so retrying garbage costs the
//! sender that long per attempt); past [`EXCLUSION_SCORE_LIMIT`] it is refused for
//! `exclusion period × strikes`, in the manner of the reference node's peer exclusion.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::subnetwork;

/// Strikes after which an address is refused; wrong-network and wrong-genesis peers get
/// this many at once (they can never be useful peers), a malformed frame one.
pub const EXCLUSION_SCORE_LIMIT: u32 = 2;

/// Most addresses remembered in the exclusion list. An attacker controlling many
/// addresses could otherwise grow it without bound; when full, the entry whose
/// exclusion ends first is forgotten (it is the least harmful to lose).
pub const EXCLUSION_TABLE_MAX: usize = 4096;

/// How long an address is refused after a strike below the exclusion limit: a minute
/// makes reconnecting to send more garbage slow for an attacker, while a peer whose
/// stream was broken once (a middlebox, a bug) is back soon.
pub const MISBEHAVIOUR_COOLDOWN: Duration = Duration::from_secs(60);

/// How long a strike below the limit is remembered: a peer that sends one bad frame a
/// day is unlucky, not hostile.
const STRIKE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// Why an inbound connection was refused before reading from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Excluded,
    /// `tcp_incoming_connections_max` open inbound connections.
    Global,
    PerIp,
    PerSubnetwork,
}

impl Refusal {
    /// The stat detail counted for this refusal.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Excluded => "refused_excluded",
            Refusal::Global => "refused_limit",
            Refusal::PerIp => "refused_ip_limit",
            Refusal::PerSubnetwork => "refused_subnetwork_limit",
        }
    }
}

struct Strikes {
    score: u32,
    /// Refused until then: the cooldown of the last strike, or the exclusion once the
    /// score reached the limit.
    until: Instant,
    last: Instant,
}

#[derive(Default)]
struct State {
    total: usize,
    per_ip: HashMap<Ipv6Addr, usize>,
    per_subnet: HashMap<[u8; 16], usize>,
    strikes: HashMap<Ipv6Addr, Strikes>,
}

/// Open inbound connections by address, and the exclusion list.
pub struct Admission {
    global_max: usize,
    per_ip_max: usize,
    per_subnet_max: usize,
    exclusion_period: Duration,
    cooldown: Duration,
    state: Mutex<State>,
    /// Woken when the set of addresses refused outright changes (a strike, an address
    /// reaching or leaving its per-IP cap, a subnetwork its per-subnetwork cap), for the
    /// kernel filter to follow.
    pub changed: tokio::sync::Notify,
}

/// One admitted inbound connection; releases its per-IP and per-subnetwork slot when
/// dropped. Travels with the connection (into the bootstrap server too).
pub struct AdmissionTicket {
    admission: Arc<Admission>,
    ip: Ipv6Addr,
}

impl Drop for AdmissionTicket {
    fn drop(&mut self) {
        self.admission.release(&self.ip);
    }
}

impl std::fmt::Debug for AdmissionTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdmissionTicket({})", self.ip)
    }
}

/// Takes one from `key`'s count, forgetting the key at zero so the map holds only
/// addresses that have something open.
pub(super) fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Admission {
    /// A cap of 0 disables that cap.
    pub fn new(
        global_max: usize,
        per_ip_max: usize,
        per_subnet_max: usize,
        exclusion_period: Duration,
        cooldown: Duration,
    ) -> Self {
        Admission {
            global_max,
            per_ip_max,
            per_subnet_max,
            exclusion_period,
            cooldown,
            state: Mutex::new(State::default()),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits one more inbound connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: Ipv6Addr) -> Result<AdmissionTicket, Refusal> {
        let mut s = self.lock();
        if Self::excluded_in(&mut s, &ip) {
            return Err(Refusal::Excluded);
        }
        if self.global_max > 0 && s.total >= self.global_max {
            return Err(Refusal::Global);
        }
        let subnet = subnetwork(&ip);
        if self.per_ip_max > 0 && s.per_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip_max {
            return Err(Refusal::PerIp);
        }
        if self.per_subnet_max > 0
            && s.per_subnet.get(&subnet).copied().unwrap_or(0) >= self.per_subnet_max
        {
            return Err(Refusal::PerSubnetwork);
        }
        s.total += 1;
        let n = s.per_ip.entry(ip).or_default();
        *n += 1;
        let mut reached_cap = *n == self.per_ip_max;
        let m = s.per_subnet.entry(subnet).or_default();
        *m += 1;
        reached_cap |= *m == self.per_subnet_max;
        drop(s);
        if reached_cap {
            self.changed.notify_one();
        }
        Ok(AdmissionTicket {
            admission: self.clone(),
            ip,
        })
    }

    fn release(&self, ip: &Ipv6Addr) {
        let mut s = self.lock();
        s.total = s.total.saturating_sub(1);
        let subnet = subnetwork(ip);
        let was_at_cap = (self.per_ip_max > 0 && s.per_ip.get(ip) == Some(&self.per_ip_max))
            || (self.per_subnet_max > 0 && s.per_subnet.get(&subnet) == Some(&self.per_subnet_max));
        decrement(&mut s.per_ip, ip);
        decrement(&mut s.per_subnet, &subnet);
        drop(s);
        if was_at_cap {
            self.changed.notify_one();
        }
    }

    /// The addresses refused outright now, for the kernel filter: excluded and
    /// cooled-down ones, those refused the longest first, then (with `over_cap`) those
    /// at their per-IP cap; at most `max`. Also when the earliest listed refusal ends.
    pub fn refused_addresses(
        &self,
        over_cap: bool,
        max: usize,
    ) -> (Vec<Ipv6Addr>, Option<Instant>) {
        let now = Instant::now();
        let s = self.lock();
        let mut refused: Vec<(Instant, Ipv6Addr)> = s
            .strikes
            .iter()
            .filter(|(_, e)| e.until > now)
            .map(|(ip, e)| (e.until, *ip))
            .collect();
        refused.sort_unstable_by_key(|(until, _)| std::cmp::Reverse(*until));
        refused.truncate(max);
        let ends = refused.last().map(|(until, _)| *until);
        let mut list: Vec<Ipv6Addr> = refused.into_iter().map(|(_, ip)| ip).collect();
        if over_cap && self.per_ip_max > 0 {
            let full = s
                .per_ip
                .iter()
                .filter(|(ip, n)| {
                    **n >= self.per_ip_max && s.strikes.get(ip).is_none_or(|e| e.until <= now)
                })
                .map(|(ip, _)| *ip);
            let room = max.saturating_sub(list.len());
            list.extend(full.take(room));
        }
        (list, ends)
    }

    /// The subnetworks (IPv4 /24, IPv6 /64, as their network addresses) at their
    /// per-subnetwork cap, for the listener's kernel filter: any new connection from
    /// them would be refused; at most `max`.
    pub fn full_subnets(&self, max: usize) -> Vec<Ipv6Addr> {
        if self.per_subnet_max == 0 {
            return Vec::new();
        }
        let s = self.lock();
        s.per_subnet
            .iter()
            .filter(|(_, n)| **n >= self.per_subnet_max)
            .map(|(net, _)| Ipv6Addr::from(*net))
            .take(max)
            .collect()
    }

    /// Open inbound connections in all.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Open inbound connections from `ip`.
    pub fn open_from(&self, ip: &Ipv6Addr) -> usize {
        self.lock().per_ip.get(ip).copied().unwrap_or(0)
    }

    fn excluded_in(s: &mut State, ip: &Ipv6Addr) -> bool {
        let now = Instant::now();
        let Some(e) = s.strikes.get(ip) else {
            return false;
        };
        if e.until > now {
            return true;
        }
        // An exclusion that ended keeps its score: a repeat offender is refused longer
        // next time (until `purge` forgets it).
        let stale = e.score < EXCLUSION_SCORE_LIMIT && now.duration_since(e.last) >= STRIKE_MEMORY;
        if stale {
            s.strikes.remove(ip);
        }
        false
    }

    /// Whether `ip` is currently refused (also used before dialling it).
    pub fn is_excluded(&self, ip: &Ipv6Addr) -> bool {
        Self::excluded_in(&mut self.lock(), ip)
    }

    /// Records `strikes` against `ip` and refuses it for the cooldown, or for the
    /// exclusion period once at the limit; returns true when it is now excluded.
    pub fn strike(&self, ip: Ipv6Addr, strikes: u32) -> bool {
        let now = Instant::now();
        let mut s = self.lock();
        if !s.strikes.contains_key(&ip) && s.strikes.len() >= EXCLUSION_TABLE_MAX {
            let evict = s
                .strikes
                .iter()
                .min_by_key(|(_, e)| e.until)
                .map(|(k, _)| *k);
            if let Some(k) = evict {
                s.strikes.remove(&k);
            }
        }
        let e = s.strikes.entry(ip).or_insert(Strikes {
            score: 0,
            until: now,
            last: now,
        });
        if e.score < EXCLUSION_SCORE_LIMIT && now.duration_since(e.last) >= STRIKE_MEMORY {
            e.score = 0;
        }
        e.score = e.score.saturating_add(strikes);
        e.last = now;
        let excluded = e.score >= EXCLUSION_SCORE_LIMIT;
        let period = if excluded {
            self.exclusion_period.saturating_mul(e.score)
        } else {
            self.cooldown
        };
        e.until = e.until.max(now + period);
        drop(s);
        self.changed.notify_one();
        excluded
    }

    /// Forgets exclusions that ended more than the strike memory ago; called periodically.
    pub fn purge(&self) {
        let now = Instant::now();
        self.lock().strikes.retain(|_, e| {
            let end = e.until.max(e.last);
            now < end || now.duration_since(end) < STRIKE_MEMORY
        });
    }

    /// Addresses in the exclusion list (excluded or with strikes).
    #[cfg(test)]
    pub fn strike_table_len(&self) -> usize {
        self.lock().strikes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8) -> Ipv6Addr {
        std::net::Ipv4Addr::new(10, 0, 0, last).to_ipv6_mapped()
    }

    #[test]
    fn caps_per_ip_and_subnet_and_release_on_drop() {
        let a = Arc::new(Admission::new(
            0,
            2,
            3,
            Duration::from_secs(60),
            Duration::ZERO,
        ));
        let t1 = a.admit(v4(1)).unwrap();
        let _t2 = a.admit(v4(1)).unwrap();
        assert_eq!(a.admit(v4(1)).unwrap_err(), Refusal::PerIp);
        let _t3 = a.admit(v4(2)).unwrap();
        assert_eq!(a.admit(v4(3)).unwrap_err(), Refusal::PerSubnetwork);
        // Another /24 is not affected.
        let other = std::net::Ipv4Addr::new(10, 0, 1, 1).to_ipv6_mapped();
        let _t4 = a.admit(other).unwrap();
        drop(t1);
        assert_eq!(a.open_from(&v4(1)), 1);
        let _t5 = a.admit(v4(3)).unwrap();
        assert_eq!(a.open(), 4);
    }

    #[test]
    fn global_cap() {
        let a = Arc::new(Admission::new(
            2,
            0,
            0,
            Duration::from_secs(60),
            Duration::ZERO,
        ));
        let _t1 = a.admit(v4(1)).unwrap();
        let t2 = a.admit(v4(2)).unwrap();
        assert_eq!(a.admit(v4(3)).unwrap_err(), Refusal::Global);
        drop(t2);
        assert!(a.admit(v4(3)).is_ok());
    }

    #[test]
    fn strikes_exclude_at_the_limit_and_the_table_is_bounded() {
        let a = Arc::new(Admission::new(
            0,
            0,
            0,
            Duration::from_secs(60),
            Duration::ZERO,
        ));
        assert!(!a.strike(v4(1), 1));
        assert!(a.admit(v4(1)).is_ok(), "one strike is not an exclusion");
        assert!(a.strike(v4(1), 1));
        assert_eq!(a.admit(v4(1)).unwrap_err(), Refusal::Excluded);
        assert!(a.is_excluded(&v4(1)));
        assert!(!a.is_excluded(&v4(2)));
        for i in 0..(EXCLUSION_TABLE_MAX as u32 + 100) {
            let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i).to_ipv6_mapped();
            a.strike(ip, EXCLUSION_SCORE_LIMIT);
        }
        assert_eq!(a.strike_table_len(), EXCLUSION_TABLE_MAX);
    }

    #[test]
    fn one_strike_cools_the_address_down_and_a_second_excludes_it() {
        let a = Arc::new(Admission::new(
            0,
            0,
            0,
            Duration::from_secs(60),
            MISBEHAVIOUR_COOLDOWN,
        ));
        assert!(!a.strike(v4(1), 1), "below the limit: not an exclusion");
        assert_eq!(a.admit(v4(1)).unwrap_err(), Refusal::Excluded);
        assert!(a.is_excluded(&v4(1)));
        assert!(a.admit(v4(2)).is_ok(), "other addresses unaffected");

        // A short cooldown ends; the score stays, so the next strike excludes.
        let a = Arc::new(Admission::new(
            0,
            0,
            0,
            Duration::from_secs(60),
            Duration::from_millis(5),
        ));
        assert!(!a.strike(v4(1), 1));
        std::thread::sleep(Duration::from_millis(30));
        assert!(a.admit(v4(1)).is_ok(), "cooldown over");
        assert!(a.strike(v4(1), 1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(a.admit(v4(1)).unwrap_err(), Refusal::Excluded);
    }

    #[test]
    fn exclusion_ends_after_its_period() {
        let a = Arc::new(Admission::new(
            0,
            0,
            0,
            Duration::from_millis(1),
            Duration::ZERO,
        ));
        assert!(a.strike(v4(1), EXCLUSION_SCORE_LIMIT));
        std::thread::sleep(Duration::from_millis(20));
        assert!(a.admit(v4(1)).is_ok());
    }
}
