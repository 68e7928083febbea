//! Whether a live workload has finished rolling out, judged like kstatus: the controller has observed the
//! latest generation, replica counts and revisions have converged, and no terminal condition is set.
//! Pod-level trouble (CrashLoopBackOff, ImagePullBackOff, …) turns a wait into a clear failure.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use std::fmt;

/// The rollout state of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still converging; the text says on what.
    InProgress(String),
    /// Will not converge without a change; the text says why.
    Failed(String),
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Ready => f.write_str("ready"),
            Readiness::InProgress(why) => write!(f, "in progress: {why}"),
            Readiness::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

fn observed(generation: Option<i64>, observed: Option<i64>) -> Option<Readiness> {
    let (g, o) = (generation.unwrap_or(0), observed.unwrap_or(0));
    (o < g).then(|| Readiness::InProgress(format!("generation {g} not yet observed (at {o})")))
}

pub fn deployment(d: &Deployment) -> Readiness {
    if let Some(r) = observed(
        d.metadata.generation,
        d.status.as_ref().and_then(|s| s.observed_generation),
    ) {
        return r;
    }
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(s) = &d.status else {
        return Readiness::InProgress("no status yet".into());
    };
    let deadline = s.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(c) = deadline {
        let msg = c.message.clone().unwrap_or_default();
        return Readiness::Failed(format!("ProgressDeadlineExceeded: {msg}"));
    }
    let updated = s.updated_replicas.unwrap_or(0);
    let available = s.available_replicas.unwrap_or(0);
    let total = s.replicas.unwrap_or(0);
    if updated < want {
        Readiness::InProgress(format!("{updated}/{want} replicas updated"))
    } else if total > updated {
        Readiness::InProgress(format!(
            "{} old replicas pending termination",
            total - updated
        ))
    } else if available < want {
        Readiness::InProgress(format!("{available}/{want} replicas available"))
    } else {
        Readiness::Ready
    }
}

pub fn stateful_set(st: &StatefulSet) -> Readiness {
    if let Some(r) = observed(
        st.metadata.generation,
        st.status.as_ref().and_then(|s| s.observed_generation),
    ) {
        return r;
    }
    let want = st.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(s) = &st.status else {
        return Readiness::InProgress("no status yet".into());
    };
    let ready = s.ready_replicas.unwrap_or(0);
    let updated = s.updated_replicas.unwrap_or(0);
    if updated < want {
        Readiness::InProgress(format!("{updated}/{want} replicas updated"))
    } else if ready < want {
        Readiness::InProgress(format!("{ready}/{want} replicas ready"))
    } else if s.update_revision.is_some() && s.current_revision != s.update_revision {
        Readiness::InProgress("revision update in progress".into())
    } else {
        Readiness::Ready
    }
}

pub fn job(j: &Job) -> Readiness {
    let conditions = j.status.iter().flat_map(|s| s.conditions.iter().flatten());
    for c in conditions {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => return Readiness::Ready,
            "Failed" => {
                let why = c.reason.clone().unwrap_or_default();
                let msg = c.message.clone().unwrap_or_default();
                return Readiness::Failed(format!("{why}: {msg}"));
            }
            _ => {}
        }
    }
    let active = j.status.as_ref().and_then(|s| s.active).unwrap_or(0);
    Readiness::InProgress(format!("{active} pod(s) running"))
}

/// Waiting reasons that do not resolve by waiting.
const STUCK: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// `pod/container: Reason: message` for every container stuck in one of the [`STUCK`] states.
pub fn stuck_containers(pods: &[Pod]) -> Vec<String> {
    let mut out = Vec::new();
    for p in pods {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        let statuses = p.status.iter().flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        });
        for cs in statuses {
            let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if STUCK.contains(&reason) {
                let msg = waiting.message.as_deref().unwrap_or_default();
                out.push(format!("{name}/{}: {reason}: {msg}", cs.name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
