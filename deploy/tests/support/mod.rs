//! Shared by the integration tests: paths and golden-file comparison.
#![allow(dead_code, reason = "each test crate uses a different part")]
#![allow(clippy::unwrap_used, reason = "tests")]

pub mod mock;

use std::path::{Path, PathBuf};
use trinity_deploy::object::Manifest;
use trinity_deploy::{render, values};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn shipped() -> Vec<Manifest> {
    let v = values::load(&root().join("config/stack.yaml")).unwrap();
    render::render(&v).unwrap()
}

pub fn full() -> Vec<Manifest> {
    let v = values::load(&root().join("deploy/tests/values/full.yaml")).unwrap();
    render::render(&v).unwrap()
}

/// Compares `actual` with the file at `path`; with UPDATE_GOLDEN=1 rewrites the file instead.
pub fn assert_golden(path: &Path, actual: &str, how_to_update: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the render (first at line {}); {how_to_update}",
            path.display(),
            first + 1
        );
    }
}
