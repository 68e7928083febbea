//! Headless Chromium (Debian package `chromium`, installed by `make test-deps`): a missing
//! browser fails the test, it never skips it.

use std::process::Output;
use std::time::Duration;

/// Runs `chromium --headless … ARGS URL` with a throw-away profile; panics unless it succeeds
/// within 90 s. `--virtual-time-budget` lets the page's timers and fetches run (3 s of page time).
pub async fn chromium(args: &[String], url: &str) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox", // CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage", // containers with a small /dev/shm
            "--no-first-run",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium did not finish within 90 s")
        .expect("chromium (Debian package `chromium`; `make test-deps` installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The page's DOM after its scripts ran.
pub async fn rendered_dom(url: &str) -> String {
    let out = chromium(&["--dump-dom".to_owned()], url).await;
    String::from_utf8(out.stdout).unwrap()
}
