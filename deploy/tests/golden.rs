//! Golden render tests: `k8s/` is the render of config/stack.yaml, `tests/golden/full.yaml` the render
//! of tests/values/full.yaml (every optional part on). UPDATE_GOLDEN=1 rewrites both.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use support::{assert_golden, full, root, shipped};
use trinity_deploy::render;

#[test]
fn k8s_dir_is_the_render_of_the_shipped_values() {
    let files = render::to_files(&shipped()).unwrap();
    let dir = root().join("k8s");
    for (name, text) in &files {
        assert_golden(&dir.join(name), text, "run `make k8s`");
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut rendered: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    rendered.sort();
    assert_eq!(on_disk, rendered, "stale files in k8s/: run `make k8s`");
}

#[test]
fn full_values_render_matches_golden() {
    let text = render::to_yaml(&full()).unwrap();
    assert_golden(
        &root().join("deploy/tests/golden/full.yaml"),
        &text,
        "UPDATE_GOLDEN=1 cargo nextest run -p trinity-deploy, then review the diff",
    );
}
