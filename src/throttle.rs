//! Limits on dashboard sign-in, checked before any password hash runs
//! (docs/src/operations.md): a per-IP rate in this process, and a small pool of
//! hashing slots so a flood of sign-ins cannot take the memory (argon2 uses
//! ~19 MiB per hash) or the CPU the mobile API needs. The per-user limit is
//! the lockout in the database (`users::take_attempt`), shared by instances.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The window of the per-IP rate.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past this, expired entries are dropped and,
/// if that is not enough, the table starts over (memory stays bounded).
const MAX_TRACKED: usize = 10_000;
/// How long a sign-in waits for a hashing slot before it is turned away.
const SLOT_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SignInGuard {
    per_ip_per_minute: u32,
    hashing: Arc<Semaphore>,
    seen: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
}

/// Refused: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl SignInGuard {
    /// `per_ip_per_minute` sign-ins per address and minute; hashing slots:
    /// half the cores, at least one.
    pub fn new(per_ip_per_minute: u32) -> SignInGuard {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SignInGuard {
            per_ip_per_minute,
            hashing: Arc::new(Semaphore::new((cores / 2).max(1))),
            seen: Arc::default(),
        }
    }

    /// Count one sign-in from `ip`; refused past the rate.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<(), RetryAfter> {
        let Some(ip) = ip.map(bucket) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_TRACKED && !seen.contains_key(&ip) {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if seen.len() >= MAX_TRACKED {
                seen.clear();
            }
        }
        let (start, count) = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_ip_per_minute {
            let left = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(RetryAfter(left.as_secs().max(1)));
        }
        *count += 1;
        Ok(())
    }

    /// A hashing slot, or `RetryAfter` when none frees up soon.
    pub async fn hashing_slot(&self) -> Result<SemaphorePermit<'_>, RetryAfter> {
        match tokio::time::timeout(SLOT_WAIT, self.hashing.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(RetryAfter(SLOT_WAIT.as_secs())),
        }
    }
}

/// IPv6 clients usually hold a whole /64: count it as one address.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_per_minute_and_others_are_not() {
        let guard = SignInGuard::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(guard.admit(Some(a)).is_ok());
        }
        let RetryAfter(secs) = guard.admit(Some(a)).unwrap_err();
        assert!((1..=60).contains(&secs));
        assert!(guard.admit(Some(b)).is_ok());
        // One /64 is one client.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        for _ in 0..3 {
            assert!(guard.admit(Some(v6a)).is_ok());
        }
        assert!(guard.admit(Some(v6b)).is_err());
    }
}

/// Open connections per client (docs/src/operations.md "Limits"): one client, however many
/// connections it opens, may make requests on at most `per_client` of them
/// at once, so it cannot take the instance's whole connection cap. A client
/// is its address; an IPv6 address counts by its /64 (one subscriber's
/// prefix).
#[derive(Clone)]
pub struct ConnectionLimit {
    per_client: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection's place in its client's count, held for the connection's
/// life (in its extensions) and given back when it closes.
pub struct ConnectionSlot {
    limit: ConnectionLimit,
    client: IpAddr,
    /// The client had this many connections open with it.
    open: usize,
}

impl ConnectionLimit {
    pub fn new(per_client: usize) -> ConnectionLimit {
        ConnectionLimit {
            per_client: per_client.max(1),
            open: Arc::default(),
        }
    }

    /// Count a new connection from `peer`.
    pub fn admit(&self, peer: IpAddr) -> ConnectionSlot {
        let client = client_of(peer);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(client).or_insert(0);
        *count += 1;
        ConnectionSlot {
            limit: self.clone(),
            client,
            open: *count,
        }
    }
}

impl ConnectionSlot {
    /// Whether this connection is over its client's limit.
    pub fn is_over(&self) -> bool {
        self.open > self.limit.per_client
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// The client an address belongs to: an IPv4 address (or an IPv4-mapped
/// IPv6 one) itself, an IPv6 address its /64.
fn client_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod connection_tests {
    use super::*;

    #[test]
    fn a_client_is_over_its_limit_only_while_its_connections_stay_open() {
        let limit = ConnectionLimit::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let (one, two) = (limit.admit(a), limit.admit(a));
        let three = limit.admit(a);
        assert!(!one.is_over() && !two.is_over() && three.is_over());
        assert!(
            !limit.admit("10.0.0.2".parse().unwrap()).is_over(),
            "another client"
        );
        drop((one, three));
        assert!(
            !limit.admit(a).is_over(),
            "closed connections give their place back"
        );
        // One IPv6 /64 is one client.
        let (x, y): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::ffff:2".parse().unwrap(),
        );
        let _held = (limit.admit(x), limit.admit(y));
        assert!(limit.admit("2001:db8::3".parse().unwrap()).is_over());
        assert!(!limit.admit("2001:db8:0:1::1".parse().unwrap()).is_over());
    }
}
