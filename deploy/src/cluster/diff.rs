//! `diff`: what `apply` would change. Each object is server-side applied with dryRun, and the answer is
//! compared with the live object after both are normalised (server-owned fields removed).

use super::{ClusterError, FIELD_MANAGER, object_id, server_side};
use crate::object::Manifest;
use kube::api::PatchParams;
use serde_json::Value;

/// Metadata fields the server owns; they differ between any two reads.
const SERVER_METADATA: [&str; 7] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionGracePeriodSeconds",
];

/// Removes status and server-owned metadata, so two reads of an unchanged object compare equal.
pub fn normalise(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in SERVER_METADATA {
                meta.remove(k);
            }
            if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                ann.remove("deployment.kubernetes.io/revision");
                if ann.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    v
}

/// A line diff of two texts (`-` old, `+` new, changed regions only, 2 lines of context).
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        let lo = k.saturating_sub(2);
        let hi = (k + 2).min(ops.len() - 1);
        ops[lo..=hi].iter().any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("  …\n");
                skipped = false;
            }
            out.push_str(&format!("{c} {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}

/// The difference `apply` would make to one object; `None` when there is none.
pub async fn diff_one(
    client: &kube::Client,
    m: &Manifest,
    stack: &str,
) -> Result<Option<String>, ClusterError> {
    let pending = server_side::prepare(client, m, stack).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let Some(after) = pending.patch(&params).await? else {
        return Ok(Some(format!(
            "{}: its CRD is not installed; apply skips it\n",
            object_id(m)
        )));
    };
    let yaml = |o: &kube::api::DynamicObject| -> Result<String, ClusterError> {
        let v = serde_json::to_value(o).map_err(|source| ClusterError::Serialize {
            object: object_id(m),
            source,
        })?;
        Ok(serde_yaml::to_string(&normalise(v)).unwrap_or_default())
    };
    let new = yaml(&after)?;
    Ok(match pending.live {
        None => Some(format!("+ {} (new)\n", object_id(m))),
        Some(l) => {
            let old = yaml(&l)?;
            (old != new).then(|| format!("~ {}\n{}", object_id(m), line_diff(&old, &new)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalise_drops_server_fields() {
        let v = json!({"metadata": {"name": "a", "resourceVersion": "9", "managedFields": [],
                                    "annotations": {"deployment.kubernetes.io/revision": "3"}},
                       "spec": {"x": 1}, "status": {"y": 2}});
        assert_eq!(
            normalise(v),
            json!({"metadata": {"name": "a"}, "spec": {"x": 1}})
        );
    }

    #[test]
    fn line_diff_shows_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let d = line_diff(old, new);
        assert!(d.contains("- e\n+ E\n"), "{d}");
        assert!(!d.contains("  a\n"), "{d}");
        assert_eq!(line_diff(old, old), "");
    }
}
