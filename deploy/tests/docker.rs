//! docker/: each image's build context (the repository root filtered by its `.dockerignore`) must hold a
//! loadable Cargo workspace and every file the Dockerfile copies. No container engine runs here, so the
//! context is reproduced with the `.dockerignore` rules and checked with `cargo metadata`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::Path;
use std::process::Command;
use support::root;

/// One path segment against one pattern segment (`*`, `?`, literal), like Go's `filepath.Match`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

fn segments_match(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| segments_match(rest, &s[i..])),
        Some((first, rest)) => {
            !s.is_empty()
                && glob(first.as_bytes(), s[0].as_bytes())
                && segments_match(rest, &s[1..])
        }
    }
}

/// Whether `.dockerignore` rules exclude `path` (a pattern matching a directory excludes what is in
/// it; the last matching rule wins; `!` re-includes), as BuildKit's pattern matcher does.
fn excluded(rules: &str, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let mut out = false;
    for line in rules.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negate, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
        if (1..=parts.len()).any(|k| segments_match(&pat, &parts[..k])) {
            out = !negate;
        }
    }
    out
}

/// The repository files (tracked and untracked, not git-ignored) a build with these rules sees.
fn context(rules: &str) -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|f| root().join(f).is_file() && !excluded(rules, f))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_matcher_follows_dockerignore_rules() {
    let rules = "**/target\nbenches/load\nbenches/*.md\nk8s\n!k8s/keep.yaml\n";
    assert!(excluded(rules, "target/debug/x"));
    assert!(excluded(rules, "proxy/target/x"));
    assert!(excluded(rules, "benches/load/run.py"));
    assert!(excluded(rules, "benches/RESULTS.md"));
    assert!(excluded(rules, "k8s/00-namespace.yaml"));
    assert!(!excluded(rules, "k8s/keep.yaml"));
    assert!(!excluded(rules, "benches/Cargo.toml"));
    assert!(!excluded(rules, "benches/src/lib.rs"));
    assert!(!excluded(rules, "benchesx/a"));
    assert!(excluded("benches\n", "benches/Cargo.toml"));
}

#[test]
fn every_image_context_loads_the_workspace_and_has_what_the_dockerfile_copies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for image in ["trinity-proxy", "trinity-deploy"] {
        let docker = root().join("docker");
        let rules =
            std::fs::read_to_string(docker.join(format!("{image}.Dockerfile.dockerignore")))
                .unwrap();
        let files = context(&rules);
        let dir = tempfile::tempdir().unwrap();
        for f in &files {
            let to = dir.path().join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root().join(f), &to).unwrap();
        }
        let out = Command::new(&cargo)
            .args([
                "metadata",
                "--no-deps",
                "--offline",
                "--format-version",
                "1",
            ])
            .current_dir(dir.path())
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{image}: the build context does not load as a workspace:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            files.iter().any(|f| f == "Cargo.lock"),
            "{image}: no Cargo.lock"
        );
        // Every `COPY <src> <dst>` from the context (not `--from=` a stage) finds its source.
        let dockerfile =
            std::fs::read_to_string(docker.join(format!("{image}.Dockerfile"))).unwrap();
        for line in dockerfile.lines() {
            let Some(args) = line.strip_prefix("COPY ") else {
                continue;
            };
            if args.starts_with("--from") {
                continue;
            }
            let src = args.split_whitespace().next().unwrap();
            if src != "." {
                assert!(
                    Path::new(src).is_absolute() || files.iter().any(|f| f == src),
                    "{image}: COPY {src}: not in the build context"
                );
            }
        }
    }
}
