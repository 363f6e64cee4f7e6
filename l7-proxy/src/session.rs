//! Session persistence (HTTPRoute rule `sessionPersistence`, GEP-1619): the first response
//! carries a session token (a cookie, or a header), and later requests that present it go to
//! the same endpoint while it is there and the session has not timed out.
//!
//! The token is `v1.<endpoint hash>.<start>.<last use>` (hex; times in Unix seconds). It holds
//! no secret: it only selects among the route's own endpoints, which any client can reach
//! anyway, and every proxy decodes it the same way (FNV hash of the endpoint address), so a
//! session survives a proxy restart or a hop to another replica.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue, SET_COOKIE};

use crate::balance::{addr_hash, cookie};
use crate::config::SessionPersistence;
use crate::route_table::{BackendGroup, CompiledBackend, CompiledTarget};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn token(endpoint: SocketAddr, started: u64, last: u64) -> String {
    format!("v1.{:x}.{started:x}.{last:x}", addr_hash(endpoint))
}

/// (endpoint hash, start, last use)
fn parse(t: &str) -> Option<(u64, u64, u64)> {
    let mut it = t.strip_prefix("v1.")?.split('.');
    let h = u64::from_str_radix(it.next()?, 16).ok()?;
    let start = u64::from_str_radix(it.next()?, 16).ok()?;
    let last = u64::from_str_radix(it.next()?, 16).ok()?;
    it.next().is_none().then_some((h, start, last))
}

/// The live session a request presents: the backend and endpoint it names and when it started.
/// `None` when there is none, it timed out, or its endpoint left every backend of the route.
pub fn find<'t>(
    sp: &SessionPersistence,
    backends: &'t BackendGroup,
    headers: &HeaderMap,
) -> Option<(&'t CompiledBackend, SocketAddr, u64)> {
    let raw = if sp.header {
        headers.get(sp.name.as_str())?.to_str().ok()?
    } else {
        cookie(headers, &sp.name)?
    };
    let (h, started, last) = parse(raw)?;
    let now = now();
    if sp
        .absolute_timeout_s
        .is_some_and(|t| now.saturating_sub(started) > t)
        || sp
            .idle_timeout_s
            .is_some_and(|t| now.saturating_sub(last) > t)
    {
        return None;
    }
    backends.entries().find_map(|b| match &b.target {
        CompiledTarget::Cluster(c) => c.balancer.endpoint_by_hash(h).map(|a| (b, a, started)),
        CompiledTarget::Invalid { .. } => None,
    })
}

/// Adds the session token for `endpoint` to a response: the same session refreshed when the
/// request's session was served by its endpoint, else a new one.
pub fn issue(
    sp: &SessionPersistence,
    endpoint: SocketAddr,
    session: Option<(SocketAddr, u64)>,
    tls: bool,
    headers: &mut HeaderMap,
) {
    let now = now();
    let started = match session {
        Some((addr, started)) if addr == endpoint => started,
        _ => now,
    };
    let t = token(endpoint, started, now);
    if sp.header {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(sp.name.as_bytes()),
            HeaderValue::from_str(&t),
        ) {
            headers.insert(n, v);
        }
        return;
    }
    let mut c = format!("{}={t}; Path=/; HttpOnly", sp.name);
    if sp.permanent
        && let Some(abs) = sp.absolute_timeout_s
    {
        let left = abs.saturating_sub(now.saturating_sub(started));
        c.push_str(&format!("; Max-Age={left}"));
    }
    if tls {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        headers.append(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let t = token(a, 100, 200);
        assert_eq!(parse(&t), Some((addr_hash(a), 100, 200)));
        for bad in ["", "v1.", "v2.1.2.3", "v1.zz.1.2", "v1.1.2.3.4", "v1.1.2"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn cookies_carry_max_age_only_when_permanent() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut sp = SessionPersistence {
            name: "sid".into(),
            header: false,
            absolute_timeout_s: Some(3600),
            idle_timeout_s: None,
            permanent: false,
        };
        let mut h = HeaderMap::new();
        issue(&sp, a, None, true, &mut h);
        let c = h[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            c.starts_with("sid=v1.") && c.ends_with("; Path=/; HttpOnly; Secure"),
            "{c}"
        );
        sp.permanent = true;
        let mut h = HeaderMap::new();
        issue(&sp, a, None, false, &mut h);
        assert!(h[SET_COOKIE].to_str().unwrap().ends_with("; Max-Age=3600"));
        sp.header = true;
        let mut h = HeaderMap::new();
        issue(&sp, a, None, false, &mut h);
        assert!(h["sid"].to_str().unwrap().starts_with("v1."));
    }
}
