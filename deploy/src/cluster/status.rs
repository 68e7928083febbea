//! `status`: one row per component — its workloads' readiness, or whether its objects exist.

use super::{ClusterError, api_for, explain, is_not_found, object_id, wait};
use crate::object::{Component, Manifest};
use crate::readiness::Readiness;

/// One line of the status table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub component: &'static str,
    pub objects: usize,
    pub state: String,
}

/// The state of every component present in `manifests`.
pub async fn status(
    client: &kube::Client,
    manifests: &[Manifest],
) -> Result<Vec<Row>, ClusterError> {
    let mut rows = Vec::new();
    for component in Component::ALL {
        let mine: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| m.component == component)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut problems = Vec::new();
        for m in &mine {
            let exists = match api_for(client, m).get_opt(m.object.name()).await {
                Ok(o) => o.is_some(),
                Err(e) if is_not_found(&e) => false,
                Err(e) => return Err(explain(object_id(m), e)),
            };
            if !exists {
                problems.push(format!("{} missing", object_id(m)));
                continue;
            }
            if wait::is_workload(m) {
                match wait::check(client, m).await? {
                    Readiness::Ready => {}
                    other => problems.push(format!("{}: {other}", object_id(m))),
                }
            }
        }
        let state = if problems.is_empty() {
            "ready".to_owned()
        } else {
            problems.join("; ")
        };
        rows.push(Row {
            component: component.name(),
            objects: mine.len(),
            state,
        });
    }
    Ok(rows)
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let width = rows
        .iter()
        .map(|r| r.component.len())
        .max()
        .unwrap_or(0)
        .max(9);
    let mut out = format!("{:<width$}  {:>7}  STATUS\n", "COMPONENT", "OBJECTS");
    for r in rows {
        out.push_str(&format!(
            "{:<width$}  {:>7}  {}\n",
            r.component, r.objects, r.state
        ));
    }
    out
}
