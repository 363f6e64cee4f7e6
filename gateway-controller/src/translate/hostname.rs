//! Hostname intersection between a listener and a route (Gateway API `Hostname` semantics:
//! a `*.` wildcard matches one or more leading labels, never the bare suffix).

/// Whether `host` (exact or wildcard) falls under the wildcard suffix `suffix` (without `*.`).
fn under(host: &str, suffix: &str) -> bool {
    host.len() > suffix.len() + 1
        && host.ends_with(suffix)
        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
}

/// The hostname a request must carry to match both `listener` and `route`, or `None` when
/// they do not intersect. The result is the more specific of the two.
pub fn intersect<'a>(listener: &'a str, route: &'a str) -> Option<&'a str> {
    if listener == route {
        return Some(route);
    }
    match (listener.strip_prefix("*."), route.strip_prefix("*.")) {
        (None, None) => None,
        // Exact listener, wildcard route: the listener's name if the route covers it.
        (None, Some(rs)) => under(listener, rs).then_some(listener),
        // Wildcard listener: the route's name (exact or narrower wildcard) if covered.
        (Some(ls), None) => under(route, ls).then_some(route),
        (Some(ls), Some(rs)) => {
            if under(route, ls) {
                Some(route)
            } else if under(listener, rs) {
                Some(listener)
            } else {
                None
            }
        }
    }
}

/// The request hostnames a route serves on a listener: `None` when nothing intersects.
/// `*` stands for any host.
pub fn route_hostnames_on_listener(
    listener: Option<&str>,
    route: &[String],
) -> Option<Vec<String>> {
    match (listener, route.is_empty()) {
        (None, true) => Some(vec!["*".into()]),
        (None, false) => Some(route.to_vec()),
        (Some(l), true) => Some(vec![l.to_owned()]),
        (Some(l), false) => {
            let mut out: Vec<String> = route
                .iter()
                .filter_map(|r| intersect(l, r))
                .map(str::to_owned)
                .collect();
            out.sort();
            out.dedup();
            (!out.is_empty()).then_some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_intersect_only_when_equal() {
        assert_eq!(
            intersect("very.specific.com", "very.specific.com"),
            Some("very.specific.com")
        );
        assert_eq!(intersect("very.specific.com", "non.matching.com"), None);
    }

    #[test]
    fn wildcard_listener_takes_the_routes_narrower_names() {
        assert_eq!(
            intersect("*.wildcard.io", "foo.wildcard.io"),
            Some("foo.wildcard.io")
        );
        assert_eq!(
            intersect("*.wildcard.io", "foo.bar.wildcard.io"),
            Some("foo.bar.wildcard.io")
        );
        assert_eq!(intersect("*.wildcard.io", "wildcard.io"), None);
        assert_eq!(
            intersect("*.wildcard.io", "*.foo.wildcard.io"),
            Some("*.foo.wildcard.io")
        );
    }

    #[test]
    fn wildcard_route_takes_the_listeners_narrower_name() {
        assert_eq!(
            intersect("very.specific.com", "*.specific.com"),
            Some("very.specific.com")
        );
        assert_eq!(
            intersect("*.foo.example.com", "*.example.com"),
            Some("*.foo.example.com")
        );
        assert_eq!(intersect("specific.com", "*.specific.com"), None);
    }

    #[test]
    fn listener_without_hostname_takes_the_routes_names() {
        assert_eq!(
            route_hostnames_on_listener(None, &[]),
            Some(vec!["*".to_string()])
        );
        assert_eq!(
            route_hostnames_on_listener(Some("*.bar.com"), &["foo.bar.com".into(), "x.org".into()]),
            Some(vec!["foo.bar.com".to_string()])
        );
        assert_eq!(
            route_hostnames_on_listener(Some("a.com"), &["b.com".into()]),
            None
        );
    }
}
