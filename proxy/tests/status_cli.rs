//! `trinity-proxy status`: the binary reads a running proxy's admin listener and prints its
//! routes, upstreams and endpoint states; exit 1 once an upstream has no eligible endpoint, 2 when
//! the admin listener cannot be read.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::time::Duration;
use support::{TestProxy, Upstream, dead_addr, wait_for};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `trinity-proxy [global...] status [args...]`.
async fn status(global: &[&str], args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_trinity-proxy"))
        .args(global)
        .arg("status")
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("status did not finish")
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_then_exit_1_when_an_upstream_has_no_eligible_endpoint() {
    let (w1, w2, api) = (
        Upstream::echo("web-1").await,
        Upstream::echo("web-2").await,
        Upstream::echo("api").await,
    );
    let yaml = format!(
        "routes:\n  - {{ name: web, prefix: /, upstream: web }}\n  - {{ name: api, prefix: /api, upstream: api, strip_prefix: true }}\n\
         upstreams:\n  web: {{ endpoints: [\"{}\", \"{}\"] }}\n  api:\n    endpoints: [\"{}\"]\n    \
         health_check: {{ path: /, interval: 100ms, timeout: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }}\n",
        w1.addr, w2.addr, api.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let admin = proxy.server.admin_addr.to_string();

    let run = status(&[], &["--admin", &admin]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.starts_with("trinity-proxy "), "{out}");
    for needle in [
        "ROUTE",
        "prefix /api (strip)",
        "web (2/2 eligible)",
        "api (1/1 eligible)",
        &w1.addr.to_string(),
        &w2.addr.to_string(),
        &api.addr.to_string(),
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let api_row = out
        .lines()
        .find(|l| l.contains(&api.addr.to_string()))
        .unwrap();
    assert!(api_row.contains("healthy"), "{api_row}");

    // Every stand-in of `api` stopped: its probe fails and it has no eligible endpoint.
    api.kill().await;
    let ep = proxy.endpoint("api", api.addr);
    wait_for(&ep, Duration::from_secs(10), "unhealthy", |e| !e.eligible()).await;
    let run = status(&[], &["--admin", &admin]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let api_row = run
        .stdout
        .lines()
        .find(|l| l.contains(&api.addr.to_string()))
        .unwrap();
    assert!(
        api_row.contains("unhealthy") && api_row.contains("failed"),
        "{api_row}"
    );
    assert!(
        run.stdout.contains("api (0/1 eligible: NONE)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("no eligible endpoint: api (exit 1)"),
        "{}",
        run.stdout
    );

    // Without --admin: the config's `admin`, an any-address bind read as loopback.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trinity.yaml");
    let port = proxy.server.admin_addr.port();
    std::fs::write(&config, format!("admin: \"0.0.0.0:{port}\"\n{yaml}")).unwrap();
    let run = status(&["--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("at 127.0.0.1:{port}")),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_admin_is_exit_2_with_a_reason() {
    let dead = dead_addr().await.to_string();
    let run = status(&[], &["--admin", &dead]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("cannot reach the admin listener at {dead}")),
        "{}",
        run.stderr
    );

    // A listener that is not a trinity-proxy admin: a plain upstream answering JSON.
    let other = Upstream::echo("other").await;
    let run = status(&[], &["--admin", &other.addr.to_string()]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("is not a trinity-proxy status answer"),
        "{}",
        run.stderr
    );
}
