//! Hot reload: SIGHUP, a change of the config file, or — for Kubernetes ConfigMap volumes, which
//! swap a `..data` symlink instead of writing the file — any change in its directory. The
//! content hash is also polled every few seconds as a fallback. A new config is fully validated
//! and built before one atomic swap; an invalid one is rejected and the old config keeps serving.
//!
//! What cannot change live (listeners, admin address, threads, resolvers) keeps its old value,
//! with a warning that a restart is needed.

use crate::config::Config;
use crate::routing::RouteTable;
use crate::state::State;
use notify::{RecursiveMode, Watcher};
use std::ffi::OsString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// Fallback poll of the file's content.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);
/// Events arriving within this window are one change (editors and kubelet write in steps).
const SETTLE: Duration = Duration::from_millis(50);

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Applied,
    Rejected,
}

pub struct Reloader {
    path: PathBuf,
    state: Arc<State>,
    running: Config,
    last_hash: Mutex<u64>,
}

fn content_hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Reloader {
    /// `running` is the config the process started with, parsed from `loaded` (the file's text
    /// then; when unknown, the file is read now).
    pub fn new(path: &Path, state: Arc<State>, running: Config, loaded: Option<&str>) -> Self {
        let hash = match loaded {
            Some(text) => content_hash(text),
            None => std::fs::read_to_string(path)
                .map(|t| content_hash(&t))
                .unwrap_or_default(),
        };
        Self {
            path: path.to_owned(),
            state,
            running,
            last_hash: Mutex::new(hash),
        }
    }

    /// Reloads when the content changed since the last attempt, or always with `force` (SIGHUP).
    pub fn reload(&self, force: bool) -> Outcome {
        let origin = self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) => {
                // Mid-swap or deleted: not a config error yet; the next event or poll retries.
                tracing::debug!(path = %origin, error = %e, "config file unreadable");
                return Outcome::Unchanged;
            }
        };
        let hash = content_hash(&text);
        {
            let mut last = self
                .last_hash
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !force && *last == hash {
                return Outcome::Unchanged;
            }
            *last = hash;
        }
        let outcome = self.apply(&text, &origin);
        self.state.reload_attempted();
        outcome
    }

    fn apply(&self, text: &str, origin: &str) -> Outcome {
        let metrics = &self.state.metrics;
        match Config::parse(text, origin) {
            Err(errors) => {
                metrics.reloads_failure.inc();
                metrics.last_reload_successful.set(0);
                for e in &errors.0 {
                    tracing::error!(error = %e, "config reload rejected; the previous config keeps serving");
                }
                self.state
                    .record_reload(errors.0.iter().map(ToString::to_string).collect());
                Outcome::Rejected
            }
            Ok(config) => {
                self.warn_fixed_settings(&config);
                let old = self.state.table.load_full();
                let table = RouteTable::rebuild(&config, metrics, Some(&old));
                let reused = table
                    .pools
                    .iter()
                    .filter(|p| old.pools.iter().any(|o| Arc::ptr_eq(o, p)))
                    .count();
                let (routes, pools) = (table.routes.len(), table.pools.len());
                self.state.publish(table);
                metrics.reloads_success.inc();
                metrics.last_reload_successful.set(1);
                self.state.record_reload(Vec::new());
                tracing::info!(
                    routes,
                    upstreams = pools,
                    reused_pools = reused,
                    "config reloaded"
                );
                Outcome::Applied
            }
        }
    }

    fn warn_fixed_settings(&self, new: &Config) {
        let r = &self.running;
        for (what, changed) in [
            ("listeners", r.listeners != new.listeners),
            ("admin", r.admin != new.admin),
            ("threads", r.threads != new.threads),
            ("resolvers", r.resolvers != new.resolvers),
        ] {
            if changed {
                tracing::warn!(
                    setting = what,
                    "changed in the config file but cannot change live: restart to apply it"
                );
            }
        }
    }
}

/// Whether a directory event can change the config: a write, create, remove or rename, or a
/// writer closing the file (not an open or read — reading the file for a reload must not trigger
/// the next one) of one of `names` (the config file, and the file it links to when it is a
/// symlink) or of a kubelet `..`-entry (`..data`, `..data_tmp`, `..<timestamp>`). Other files in
/// the directory (a log written beside the config, an editor's swap file) are ignored.
fn is_config_change(event: &notify::Event, names: &[OsString]) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    if matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) {
        return false;
    }
    // An event without paths (the watcher's queue overflowed) may hide a change.
    event.paths.is_empty()
        || event.paths.iter().any(|p| {
            p.file_name().is_some_and(|f| {
                names.iter().any(|n| n == f) || f.as_encoded_bytes().starts_with(b"..")
            })
        })
}

/// Reloads on SIGHUP (`hup`, registered by the caller before the process announces itself, so
/// an early signal is never fatal), on changes in the file's directory, and on content polls,
/// until aborted.
pub async fn watch(reloader: Arc<Reloader>, mut hup: Option<tokio::signal::unix::Signal>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let dir = reloader
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let names: Vec<OsString> = [
        reloader.path.file_name().map(ToOwned::to_owned),
        std::fs::canonicalize(&reloader.path)
            .ok()
            .and_then(|t| t.file_name().map(ToOwned::to_owned)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && is_config_change(&event, &names)
        {
            let _ = tx.send(());
        }
    })
    .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w));
    let _watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; polling only");
            None
        }
    };
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let force = tokio::select! {
            Some(()) = rx.recv() => {
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
                false
            }
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                tracing::info!("SIGHUP: reloading the config");
                true
            }
            _ = poll.tick() => false,
        };
        let r = reloader.clone();
        // Reading and validating the file is blocking work.
        if let Err(e) = tokio::task::spawn_blocking(move || r.reload(force)).await {
            tracing::error!(error = %e, "config reload task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_config_change;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
    use notify::{Event, event::DataChange};
    use std::ffi::OsString;

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        paths.iter().fold(Event::new(kind), |e, p| {
            e.add_path(format!("/etc/trinity/{p}").into())
        })
    }

    #[test]
    fn only_changes_of_the_config_or_kubelet_entries_count() {
        // trinity.yaml is a symlink to real.yaml in the same directory.
        let names = [OsString::from("trinity.yaml"), OsString::from("real.yaml")];
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let cases = [
            (event(write, &["trinity.yaml"]), true),
            (event(write, &["real.yaml"]), true),
            (event(write, &["proxy.log"]), false),
            (
                event(
                    EventKind::Access(AccessKind::Open(AccessMode::Any)),
                    &["trinity.yaml"],
                ),
                false,
            ),
            (
                event(
                    EventKind::Access(AccessKind::Close(AccessMode::Read)),
                    &["trinity.yaml"],
                ),
                false,
            ),
            (
                event(
                    EventKind::Access(AccessKind::Close(AccessMode::Write)),
                    &["real.yaml"],
                ),
                true,
            ),
            (
                event(EventKind::Create(CreateKind::Any), &["..data_tmp"]),
                true,
            ),
            (
                event(
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
                    &[".real.yaml.swp", "real.yaml"],
                ),
                true,
            ),
            (event(EventKind::Other, &[]), true),
        ];
        for (e, want) in cases {
            assert_eq!(is_config_change(&e, &names), want, "{e:?}");
        }
    }
}
