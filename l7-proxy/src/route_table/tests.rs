use super::*;

#[test]
fn wildcard_matches_one_or_more_labels_but_not_the_apex() {
    let mut m = HostMap::default();
    m.insert(Some("*.example.com"), 1);
    m.insert(Some("*.foo.example.com"), 2);
    m.insert(Some("abc.foo.example.com"), 3);
    assert_eq!(m.lookup("bar.example.com"), Some(&1));
    assert_eq!(m.lookup("a.b.example.com"), Some(&1));
    assert_eq!(m.lookup("x.foo.example.com"), Some(&2));
    assert_eq!(m.lookup("abc.foo.example.com"), Some(&3));
    assert_eq!(m.lookup("example.com"), None);
    m.insert(None, 0);
    assert_eq!(m.lookup("example.com"), Some(&0));
}

fn route(path: PathMatch) -> CompiledRoute {
    let r = config::Route {
        name: "r".into(),
        matcher: config::RouteMatch {
            path,
            ..Default::default()
        },
        filters: vec![],
        backends: vec![],
        timeouts: Default::default(),
        retry: None,
        session: None,
    };
    compile_route(&r, &HashMap::new()).unwrap()
}

fn matches(r: &CompiledRoute, path: &str) -> bool {
    let headers = HeaderMap::new();
    r.matches(&RequestParts {
        method: &Method::GET,
        path,
        query: None,
        headers: &headers,
    })
}

#[test]
fn path_prefix_matches_whole_segments() {
    let r = route(PathMatch::Prefix("/foo".into()));
    assert!(matches(&r, "/foo"));
    assert!(matches(&r, "/foo/"));
    assert!(matches(&r, "/foo/bar"));
    assert!(!matches(&r, "/foobar"));
    let r = route(PathMatch::Prefix("/foo/".into()));
    assert!(matches(&r, "/foo"));
    assert!(matches(&r, "/foo/bar"));
    let r = route(PathMatch::Prefix("/".into()));
    assert!(matches(&r, "/anything"));
}

#[test]
fn regex_path_is_a_full_match() {
    let r = route(PathMatch::Regex("/v[0-9]+".into()));
    assert!(matches(&r, "/v2"));
    assert!(!matches(&r, "/v2/x"));
}

#[test]
fn query_params_are_decoded_and_first_wins() {
    assert_eq!(
        query_param(Some("a=1&b=x%20y&a=2"), "a").as_deref(),
        Some("1")
    );
    assert_eq!(
        query_param(Some("a=1&b=x%20y"), "b").as_deref(),
        Some("x y")
    );
    assert_eq!(query_param(Some("a=1"), "A"), None);
}

#[test]
fn replace_prefix_follows_the_conformance_examples() {
    assert_eq!(
        replace_prefix("/prefix/one/two", "/prefix/one", "/one"),
        "/one/two"
    );
    assert_eq!(
        replace_prefix("/strip-prefix/three", "/strip-prefix", "/"),
        "/three"
    );
    assert_eq!(replace_prefix("/strip-prefix", "/strip-prefix", "/"), "/");
    assert_eq!(
        replace_prefix("/prefix/one", "/prefix/one", "/one/"),
        "/one"
    );
}

#[test]
fn weighted_pick_respects_weights_and_skips_zero() {
    let mut clusters = HashMap::new();
    for (i, n) in ["1", "2", "3"].into_iter().enumerate() {
        clusters.insert(
            n.to_string(),
            Arc::new(ClusterTable {
                name: n.into(),
                protocol: UpstreamProtocol::Http1,
                balancer: crate::balance::Balancer::new(
                    vec![SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16))],
                    Default::default(),
                ),
                tls: None,
                source_tls: None,
            }),
        );
    }
    let wb = |n: &str, w| config::WeightedBackend {
        weight: w,
        target: BackendTarget::Cluster(n.into()),
        filters: vec![],
    };
    let r = config::Route {
        name: "r".into(),
        matcher: Default::default(),
        filters: vec![],
        backends: vec![wb("1", 70), wb("2", 30), wb("3", 0)],
        timeouts: Default::default(),
        retry: None,
        session: None,
    };
    let r = compile_route(&r, &clusters).unwrap();
    let picks: Vec<String> = (0..10_000)
        .map(|_| {
            let CompiledTarget::Cluster(c) = &r.backends.pick().unwrap().target else {
                panic!("invalid target")
            };
            c.name.to_string()
        })
        .collect();
    // Exact over every 100 consecutive picks (the weight total), not just on average.
    for window in picks.chunks(100) {
        let ones = window.iter().filter(|n| *n == "1").count();
        let twos = window.iter().filter(|n| *n == "2").count();
        assert_eq!((ones, twos), (70, 30), "{window:?}");
    }
    // Spread out: within any 10 picks the split stays near 7/3, and runs are short.
    for window in picks.windows(10) {
        let ones = window.iter().filter(|n| *n == "1").count();
        assert!((5..=9).contains(&ones), "{window:?}");
    }
    let longest_run = picks
        .chunk_by(|a, b| a == b)
        .map(<[String]>::len)
        .max()
        .unwrap();
    assert!(longest_run <= 4, "a run of {longest_run}");
}

#[test]
fn spreading_stride_is_coprime_with_the_total() {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    for total in 1..2_000u64 {
        let s = super::spreading_stride(total);
        assert!(
            s >= 1 && (s < total || total <= 2),
            "total {total}: stride {s}"
        );
        assert_eq!(gcd(s, total), 1, "total {total}: stride {s}");
    }
    assert_eq!(
        super::spreading_stride(100),
        63,
        "62 shares a factor with 100"
    );
}
