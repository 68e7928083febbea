//! Properties of the config loader and the route table built from it: any YAML gives a config
//! or `FILE:LINE:COL` errors (never a panic), and routing agrees with a naive reference matcher.
#![allow(clippy::unwrap_used, reason = "tests")]

use proptest::prelude::*;
use serde_yaml::Value;
use std::collections::BTreeSet;
use trinity_proxy::config::Config;
use trinity_proxy::metrics::Metrics;
use trinity_proxy::routing::RouteTable;

/// Every error names the file, a line and a column.
fn assert_located(text: &str, result: Result<Config, trinity_proxy::config::ConfigErrors>) {
    let Err(errors) = result else { return };
    assert!(!errors.0.is_empty());
    for e in &errors.0 {
        assert!(
            e.origin == "gen.yaml" && e.position.is_some_and(|(l, c)| l >= 1 && c >= 1),
            "error without a position: {e}\n--- config:\n{text}"
        );
        let (line, _) = e.position.unwrap();
        assert!(
            line <= text.split('\n').count(),
            "{e}: line beyond the end of the file\n--- config:\n{text}"
        );
    }
}

/// Keys the loader knows (and a few it doesn't), so generated trees reach past the top level.
const KEYS: &[&str] = &[
    "listeners",
    "admin",
    "threads",
    "routes",
    "upstreams",
    "name",
    "prefix",
    "path",
    "upstream",
    "host",
    "strip_prefix",
    "redirect_trailing_slash",
    "timeouts",
    "connect",
    "read",
    "endpoints",
    "health_check",
    "interval",
    "timeout",
    "tcp",
    "limits",
    "max_header_bytes",
    "client_ip",
    "trusted_proxies",
    "header",
    "policy",
    "allow",
    "rate_limit",
    "load_balancing",
    "retries",
    "shutdown",
    "discovery",
    "unknown_key",
    "web",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (-1e9f64..1e9).prop_map(|f| Value::Number(f.into())),
        prop::sample::select(vec![
            "/api",
            "/",
            "web",
            "2s",
            "0s",
            "10MiB",
            "-1",
            "127.0.0.1:0",
            "[::1]:80",
            "10.0.0.0/8",
            "0.0.0.0:9901",
            "round_robin",
            "",
            "a b",
            "x-real-ip",
            "例",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            proptest::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Mapping(kv.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
            }),
        ]
    })
}

/// A shipped config with one value replaced or one key removed somewhere in it.
fn mutated_demo() -> impl Strategy<Value = Value> {
    let demo: Value = serde_yaml::from_str(include_str!("../../config/demo.yaml")).unwrap();
    (any::<prop::sample::Index>(), prop::option::of(tree())).prop_map(move |(at, with)| {
        let mut doc = demo.clone();
        let mut count = 0;
        count_nodes(&doc, &mut count);
        let target = at.index(count.max(1));
        let mut seen = 0;
        mutate(&mut doc, target, &mut seen, &with);
        doc
    })
}

fn count_nodes(v: &Value, n: &mut usize) {
    *n += 1;
    match v {
        Value::Sequence(s) => s.iter().for_each(|c| count_nodes(c, n)),
        Value::Mapping(m) => m.values().for_each(|c| count_nodes(c, n)),
        _ => {}
    }
}

/// Replaces node number `target` (pre-order) with `with`, or removes it when `with` is `None`.
fn mutate(v: &mut Value, target: usize, seen: &mut usize, with: &Option<Value>) -> bool {
    if *seen == target {
        *v = with.clone().unwrap_or(Value::Null);
        return true;
    }
    *seen += 1;
    match v {
        Value::Sequence(s) => {
            for i in 0..s.len() {
                if *seen == target && with.is_none() {
                    s.remove(i);
                    return true;
                }
                if mutate(&mut s[i], target, seen, with) {
                    return true;
                }
            }
        }
        Value::Mapping(m) => {
            let keys: Vec<Value> = m.keys().cloned().collect();
            for k in keys {
                if *seen == target && with.is_none() {
                    m.remove(&k);
                    return true;
                }
                if mutate(m.get_mut(&k).unwrap(), target, seen, with) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_yaml_tree_gives_a_config_or_located_errors(doc in tree()) {
        let text = serde_yaml::to_string(&doc).unwrap();
        assert_located(&text, Config::parse(&text, "gen.yaml"));
    }

    #[test]
    fn a_damaged_shipped_config_gives_a_config_or_located_errors(doc in mutated_demo()) {
        let text = serde_yaml::to_string(&doc).unwrap();
        assert_located(&text, Config::parse(&text, "gen.yaml"));
    }

    #[test]
    fn any_text_gives_a_config_or_located_errors(text in "(\\PC|\n|  |- |: ){0,80}") {
        assert_located(&text, Config::parse(&text, "gen.yaml"));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    host: Option<&'static str>,
    exact: bool,
    path: &'static str,
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    let rule = (
        prop::sample::select(vec![None, Some("a.example"), Some("b.example")]),
        any::<bool>(),
        prop::sample::select(vec![
            "/",
            "/api",
            "/api/v1",
            "/ap",
            "/admin",
            "/api/v1/items",
            "/a",
            "/a/b",
            "/api/",
        ]),
    )
        .prop_filter_map(
            "a prefix is written without its trailing '/'",
            |(host, exact, path)| {
                (exact || path == "/" || !path.ends_with('/')).then_some(Rule { host, exact, path })
            },
        );
    proptest::collection::btree_set(rule, 1..10)
        .prop_map(|s: BTreeSet<Rule>| s.into_iter().collect())
}

fn request_path() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            prop::sample::select(vec!["api", "v1", "ap", "admin", "items", "a", "b", "apix"]),
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(segs, slash)| {
            let mut p = format!("/{}", segs.join("/"));
            if slash && !segs.is_empty() {
                p.push('/');
            }
            p
        })
}

/// The naive reference: look at every rule; exact beats prefix, a longer prefix beats a shorter
/// one; rules for the request's host first, then rules for any host.
fn reference(rules: &[Rule], host: Option<&str>, path: &str) -> Option<usize> {
    let host = host.map(|h| {
        let h = h.to_ascii_lowercase();
        let h = match h.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') && port.parse::<u16>().is_ok() => {
                name.to_owned()
            }
            _ => h,
        };
        h.trim_end_matches('.').to_owned()
    });
    let best = |want_host: Option<&str>| {
        rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.host == want_host)
            .filter(|(_, r)| {
                if r.exact {
                    path == r.path
                } else {
                    r.path == "/" || path == r.path || path.starts_with(&format!("{}/", r.path))
                }
            })
            .max_by_key(|(_, r)| (r.exact, r.path.len()))
            .map(|(i, _)| i)
    };
    host.as_deref()
        .and_then(|h| best(Some(h)))
        .or_else(|| best(None))
}

fn config_for(rules: &[Rule]) -> Config {
    let mut routes = String::new();
    for (i, r) in rules.iter().enumerate() {
        routes.push_str(&format!("  - name: r{i}\n    upstream: u\n"));
        routes.push_str(&format!(
            "    {}: \"{}\"\n",
            if r.exact { "path" } else { "prefix" },
            r.path
        ));
        if let Some(h) = r.host {
            routes.push_str(&format!("    host: {h}\n"));
        }
    }
    let text = format!(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n{routes}upstreams:\n  u:\n    endpoints: [\"127.0.0.1:1\"]\n"
    );
    Config::parse(&text, "gen.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn routing_agrees_with_the_naive_matcher(
        rules in rules(),
        requests in proptest::collection::vec((
            prop::sample::select(vec![
                None, Some("a.example"), Some("A.Example:8080"), Some("a.example."),
                Some("b.example:80"), Some("c.example"), Some("[::1]:80"),
            ]),
            request_path(),
        ), 1..16),
    ) {
        let config = config_for(&rules);
        let table = RouteTable::build(&config, &Metrics::new().unwrap());
        for (host, path) in requests {
            let got = table.find(host, &path).map(|i| table.route(i).name.to_string());
            let want = reference(&rules, host, &path).map(|i| format!("r{i}"));
            prop_assert_eq!(got, want, "host {:?} path {}", host, path);
        }
    }
}

#[test]
fn the_reference_matcher_is_not_trivially_agreeable() {
    // The property above would hold for a table that never matches if the reference never did.
    let rules = vec![
        Rule {
            host: None,
            exact: false,
            path: "/api",
        },
        Rule {
            host: Some("a.example"),
            exact: true,
            path: "/api/v1",
        },
    ];
    assert_eq!(
        reference(&rules, Some("A.example:8080"), "/api/v1"),
        Some(1)
    );
    assert_eq!(reference(&rules, None, "/api/v1/x"), Some(0));
    assert_eq!(reference(&rules, None, "/apix"), None);
}
