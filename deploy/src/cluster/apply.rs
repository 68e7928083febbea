//! Server-side apply (field manager `trinity-deploy`, conflicts forced like `kubectl apply
//! --server-side --force-conflicts`), staged: namespace → generated secrets (only when absent) → config/storage →
//! databases (wait) → migration Job (wait) → apps → proxy → optional parts. The databases and the migration
//! Job are always waited for, so web never rolls before its migration completed; `--wait` waits for the
//! later stages too.

use super::{ClusterError, FIELD_MANAGER, applyset, object_id, secrets, server_side, wait};
use crate::object::{Manifest, Stage};
use kube::api::PatchParams;
use std::fmt;
use std::time::Duration;

/// What applying one object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created,
    Configured,
    Unchanged,
    /// Not applied; the text says why.
    Skipped(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Created => f.write_str("created"),
            Change::Configured => f.write_str("configured"),
            Change::Unchanged => f.write_str("unchanged"),
            Change::Skipped(why) => write!(f, "skipped ({why})"),
        }
    }
}

/// Options of `apply`.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Also wait for the apps, proxy and optional stages (the databases and the migration Job are
    /// always waited for before the next stage).
    pub wait: bool,
    /// Longest wait for one workload.
    pub timeout: Duration,
    /// Interval between readiness checks.
    pub poll: Duration,
}

/// Applies one object; `stack` is the inventory label value.
pub async fn apply_one(
    client: &kube::Client,
    m: &Manifest,
    stack: &str,
) -> Result<Change, ClusterError> {
    let pending = server_side::prepare(client, m, stack).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let Some(after) = pending.patch(&params).await? else {
        return Ok(Change::Skipped(format!(
            "the {} CRD is not installed",
            m.object.kind()
        )));
    };
    Ok(match pending.live {
        None => Change::Created,
        Some(b) if b.metadata.resource_version == after.metadata.resource_version => {
            Change::Unchanged
        }
        Some(_) => Change::Configured,
    })
}

/// Applies every manifest stage by stage, reporting each result through `report`.
pub async fn apply_all(
    client: &kube::Client,
    manifests: &[Manifest],
    stack: &str,
    opts: ApplyOptions,
    report: &mut dyn FnMut(String),
) -> Result<(), ClusterError> {
    let mut stages: Vec<Stage> = manifests.iter().map(|m| m.component.stage()).collect();
    stages.sort();
    stages.dedup();
    for stage in stages {
        let mine: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| m.component.stage() == stage)
            .collect();
        for m in &mine {
            let change = apply_one(client, m, stack).await?;
            report(format!("{}: {change}", object_id(m)));
        }
        if stage == Stage::Namespace {
            // Generated Secrets: created only when absent, before anything that reads them.
            for (name, outcome) in secrets::init(client, stack).await? {
                let what = match outcome {
                    secrets::Outcome::Created => "created",
                    _ => "kept (exists)",
                };
                report(format!("Secret/{name}: {what}"));
            }
            // The ApplySet parent records every group-kind about to be applied (added to what it
            // recorded before, so an interrupted apply leaves nothing prune cannot find).
            let mut kinds = applyset::recorded(client, stack).await?.unwrap_or_default();
            kinds.extend(applyset::group_kinds(manifests));
            applyset::write(client, stack, &kinds).await?;
            report(format!(
                "{}: ApplySet parent ({} group-kinds)",
                applyset::parent_id(),
                kinds.len()
            ));
        }
        // The databases and the migration Job are always waited for: web must not roll before its schema
        // is migrated. `--wait` adds the later stages.
        if opts.wait || matches!(stage, Stage::Databases | Stage::Migration) {
            for m in mine.iter().filter(|m| wait::is_workload(m)) {
                wait::ready(client, m, opts.timeout, opts.poll).await?;
                report(format!("{}: ready", object_id(m)));
            }
        }
    }
    Ok(())
}
