//! Endpoint choice within a cluster: the load-balancing policy, in-flight counts, and passive
//! outlier detection (an endpoint that keeps failing is ejected for a while, then tried again).
//!
//! Policies (ADR 0013):
//! - `LeastRequest` (default): power of two choices: two endpoints drawn at random, the one
//!   with fewer requests in flight wins. Near-optimal spreading, no shared lock, and it steers
//!   away from a slow endpoint on its own.
//! - `RoundRobin`, `Random`.
//! - `ConsistentHash`: rendezvous (highest random weight) hashing of a request key (a header,
//!   a cookie or the client address) over the endpoints: the same key reaches the same endpoint,
//!   and removing one of N endpoints moves only the keys that were on it (about 1/N).
//!
//! Outlier detection: `CONSECUTIVE_FAILURES` gateway errors in a row (connection refused or
//! reset, timeouts, 502/503/504 answers) eject the endpoint for `BASE_EJECTION` times the number
//! of its ejections so far (at most `MAX_EJECTION`); a success resets the count. At most half
//! of a cluster's endpoints are ejected at once, and if every endpoint is ejected they are all
//! used, so detection never turns a degraded cluster into an empty one.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::{HashOn, LoadBalancing};

pub const CONSECUTIVE_FAILURES: u32 = 5;
pub const BASE_EJECTION: Duration = Duration::from_secs(10);
pub const MAX_EJECTION: Duration = Duration::from_secs(300);

/// Milliseconds since the first call: a monotonic clock that fits an atomic.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

#[derive(Default)]
pub struct EndpointState {
    active: AtomicU32,
    consecutive_failures: AtomicU32,
    /// `now_ms()` until which the endpoint is ejected; 0 when it is not.
    ejected_until: AtomicU64,
    ejections: AtomicU32,
}

impl EndpointState {
    fn ejected(&self, now: u64) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > now
    }
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }
}

/// A chosen endpoint; counts as a request in flight until dropped.
pub struct Pick<'a> {
    pub addr: SocketAddr,
    state: &'a EndpointState,
}

impl Drop for Pick<'_> {
    fn drop(&mut self) {
        self.state.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request's outcome says about the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Connection refused or reset, a timeout, or a 502/503/504 answer.
    GatewayError,
}

pub struct Balancer {
    pub endpoints: Vec<SocketAddr>,
    /// `addr_hash` of each endpoint, computed once: rendezvous scores and session tokens use it
    /// on every request.
    hashes: Vec<u64>,
    states: Vec<EndpointState>,
    policy: LoadBalancing,
    next: AtomicUsize,
    /// Set at the first ejection: until then picks skip the clock.
    ever_ejected: std::sync::atomic::AtomicBool,
}

impl Balancer {
    pub fn new(endpoints: Vec<SocketAddr>, policy: LoadBalancing) -> Self {
        let states = endpoints.iter().map(|_| EndpointState::default()).collect();
        let hashes = endpoints.iter().map(|a| addr_hash(*a)).collect();
        Balancer {
            endpoints,
            hashes,
            states,
            policy,
            next: AtomicUsize::new(0),
            ever_ejected: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn policy(&self) -> &LoadBalancing {
        &self.policy
    }

    /// The state of `addr`, if it is one of the endpoints.
    pub fn state(&self, addr: SocketAddr) -> Option<&EndpointState> {
        self.endpoints
            .iter()
            .position(|a| *a == addr)
            .map(|i| &self.states[i])
    }

    /// Chooses an endpoint. `key`: the consistent-hash key of the request; `avoid`: an endpoint
    /// not to pick again if any other can take the request (a retry). No allocation: this runs
    /// on every request.
    pub fn pick(&self, key: Option<u64>, avoid: Option<SocketAddr>) -> Option<Pick<'_>> {
        let n = self.endpoints.len();
        if n == 0 {
            return None;
        }
        // Until something was ever ejected, no clock read is needed.
        let now = if self.ever_ejected.load(Ordering::Relaxed) {
            now_ms()
        } else {
            0
        };
        let avoid = avoid.filter(|_| n > 1);
        let usable = |i: usize| !self.states[i].ejected(now) && Some(self.endpoints[i]) != avoid;
        // Relax the filter when it leaves nothing: ejected endpoints are better than none.
        let (usable, count): (&dyn Fn(usize) -> bool, usize) = {
            let c = (0..n).filter(|&i| usable(i)).count();
            if c > 0 { (&usable, c) } else { (&|_| true, n) }
        };
        // The k-th usable endpoint (k < count).
        let nth = |k: usize| (0..n).filter(|&i| usable(i)).nth(k).unwrap_or(0);
        let i = match &self.policy {
            _ if count == 1 => nth(0),
            LoadBalancing::RoundRobin => nth(self.next.fetch_add(1, Ordering::Relaxed) % count),
            LoadBalancing::Random => nth(rand::random_range(0..count)),
            LoadBalancing::ConsistentHash { .. } => match key {
                Some(k) => (0..n)
                    .filter(|&i| usable(i))
                    .max_by_key(|&i| mix(k ^ self.hashes[i]))
                    .unwrap_or(0),
                None => nth(rand::random_range(0..count)),
            },
            LoadBalancing::LeastRequest => {
                let a = rand::random_range(0..count);
                let mut b = rand::random_range(0..count - 1);
                if b >= a {
                    b += 1;
                }
                let (a, b) = (nth(a), nth(b));
                if self.states[b].active() < self.states[a].active() {
                    b
                } else {
                    a
                }
            }
        };
        let state = &self.states[i];
        state.active.fetch_add(1, Ordering::Relaxed);
        Some(Pick {
            addr: self.endpoints[i],
            state,
        })
    }

    /// The endpoint whose `addr_hash` is `h` (a session token names its endpoint so).
    pub fn endpoint_by_hash(&self, h: u64) -> Option<SocketAddr> {
        self.hashes
            .iter()
            .position(|x| *x == h)
            .map(|i| self.endpoints[i])
    }

    /// The endpoint `addr`, if present and not ejected (session persistence asks for one by
    /// name).
    pub fn pick_exact(&self, addr: SocketAddr) -> Option<Pick<'_>> {
        let i = self.endpoints.iter().position(|a| *a == addr)?;
        let state = &self.states[i];
        if self.ever_ejected.load(Ordering::Relaxed) && state.ejected(now_ms()) {
            return None;
        }
        state.active.fetch_add(1, Ordering::Relaxed);
        Some(Pick { addr, state })
    }

    /// Records an outcome for passive outlier detection. Returns true when this ejected the
    /// endpoint.
    pub fn report(&self, addr: SocketAddr, outcome: Outcome) -> bool {
        let Some(i) = self.endpoints.iter().position(|a| *a == addr) else {
            return false;
        };
        let s = &self.states[i];
        if outcome == Outcome::Success {
            s.consecutive_failures.store(0, Ordering::Relaxed);
            return false;
        }
        let failures = s.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < CONSECUTIVE_FAILURES {
            return false;
        }
        let now = now_ms();
        if s.ejected(now) {
            return false;
        }
        // Never eject more than half of the endpoints.
        let ejected = self.states.iter().filter(|x| x.ejected(now)).count();
        if (ejected + 1) * 2 > self.endpoints.len() {
            return false;
        }
        let times = s.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let d = (BASE_EJECTION * times).min(MAX_EJECTION);
        s.ejected_until
            .store(now + d.as_millis() as u64, Ordering::Relaxed);
        self.ever_ejected.store(true, Ordering::Relaxed);
        s.consecutive_failures.store(0, Ordering::Relaxed);
        tracing::warn!(endpoint = %addr, ejection_secs = d.as_secs(), "endpoint ejected after {CONSECUTIVE_FAILURES} consecutive failures");
        true
    }

    /// Endpoints ejected now.
    pub fn ejected(&self) -> Vec<SocketAddr> {
        let now = now_ms();
        (0..self.endpoints.len())
            .filter(|&i| self.states[i].ejected(now))
            .map(|i| self.endpoints[i])
            .collect()
    }
}

/// The consistent-hash key of a request for `on`, or `None` when the request lacks it.
pub fn hash_key(on: &HashOn, headers: &http::HeaderMap, peer: SocketAddr) -> Option<u64> {
    match on {
        HashOn::SourceIp => Some(match peer.ip() {
            std::net::IpAddr::V4(ip) => bytes_hash(&ip.octets()),
            std::net::IpAddr::V6(ip) => bytes_hash(&ip.octets()),
        }),
        HashOn::Header(name) => headers
            .get_all(name.as_str())
            .iter()
            .next()
            .map(|v| bytes_hash(v.as_bytes())),
        HashOn::Cookie(name) => cookie(headers, name).map(|v| bytes_hash(v.as_bytes())),
    }
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// FNV-1a: stable across processes and versions, so every proxy hashes a key the same way.
pub fn bytes_hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn addr_hash(a: SocketAddr) -> u64 {
    bytes_hash(a.to_string().as_bytes())
}

/// A 64-bit finalizer (splitmix64), so that rendezvous scores of nearby inputs are unrelated.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(n: u8) -> Vec<SocketAddr> {
        (1..=n)
            .map(|i| SocketAddr::from(([127, 0, 0, i], 80)))
            .collect()
    }

    #[test]
    fn least_request_prefers_the_idle_endpoint() {
        let b = Balancer::new(eps(2), LoadBalancing::LeastRequest);
        // Hold 10 requests on whichever endpoint comes first; the next picks avoid it.
        let busy = b.pick(None, None).unwrap();
        let busy_addr = busy.addr;
        let held: Vec<_> = (0..9).map(|_| b.pick_exact(busy_addr).unwrap()).collect();
        for _ in 0..50 {
            let p = b.pick(None, None).unwrap();
            assert_ne!(
                p.addr, busy_addr,
                "two choices of two endpoints: the idle one wins"
            );
        }
        drop(held);
        drop(busy);
        assert!(
            b.states.iter().all(|s| s.active() == 0),
            "picks are released on drop"
        );
    }

    #[test]
    fn consistent_hash_keeps_keys_and_moves_few_when_an_endpoint_goes() {
        let policy = LoadBalancing::ConsistentHash {
            on: HashOn::SourceIp,
        };
        let ten = Balancer::new(eps(10), policy.clone());
        let nine = Balancer::new(eps(10)[..9].to_vec(), policy);
        let (mut moved, mut on_removed) = (0, 0);
        for k in 0..10_000u64 {
            let a = ten.pick(Some(k), None).unwrap().addr;
            assert_eq!(
                ten.pick(Some(k), None).unwrap().addr,
                a,
                "same key, same endpoint"
            );
            let b = nine.pick(Some(k), None).unwrap().addr;
            if a != b {
                moved += 1;
            }
            if a == eps(10)[9] {
                on_removed += 1;
            }
        }
        // Only the keys of the removed endpoint move (about 1/10 of them).
        assert_eq!(moved, on_removed);
        assert!((700..1300).contains(&moved), "{moved}");
    }

    #[test]
    fn failing_endpoint_is_ejected_then_returns() {
        let b = Balancer::new(eps(3), LoadBalancing::RoundRobin);
        let bad = eps(3)[0];
        for _ in 0..CONSECUTIVE_FAILURES - 1 {
            assert!(!b.report(bad, Outcome::GatewayError));
        }
        b.report(bad, Outcome::Success);
        for _ in 0..CONSECUTIVE_FAILURES - 1 {
            assert!(
                !b.report(bad, Outcome::GatewayError),
                "a success reset the count"
            );
        }
        assert!(b.report(bad, Outcome::GatewayError));
        assert_eq!(b.ejected(), [bad]);
        for _ in 0..30 {
            assert_ne!(b.pick(None, None).unwrap().addr, bad);
        }
        // A second endpoint may not go too: that would eject more than half.
        let other = eps(3)[1];
        for _ in 0..CONSECUTIVE_FAILURES {
            assert!(!b.report(other, Outcome::GatewayError));
        }
        // Time passes: the ejection ends.
        b.states[0].ejected_until.store(1, Ordering::Relaxed);
        assert!(b.ejected().is_empty());
        assert!((0..30).any(|_| b.pick(None, None).unwrap().addr == bad));
    }

    #[test]
    fn retry_avoids_the_endpoint_that_failed() {
        let b = Balancer::new(eps(2), LoadBalancing::Random);
        for _ in 0..50 {
            assert_eq!(b.pick(None, Some(eps(2)[0])).unwrap().addr, eps(2)[1]);
        }
        let single = Balancer::new(eps(1), LoadBalancing::Random);
        assert!(
            single.pick(None, Some(eps(1)[0])).is_some(),
            "the only endpoint is still used"
        );
    }

    #[test]
    fn cookie_values_are_found() {
        let mut h = http::HeaderMap::new();
        h.append(http::header::COOKIE, "a=1; sid=xyz".parse().unwrap());
        h.append(http::header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, "sid"), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
