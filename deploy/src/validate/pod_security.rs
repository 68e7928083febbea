//! Pod Security `restricted` (v1.33), the level the Namespace enforces: a pod template that breaks it
//! would be rejected at admission, long after `validate` said ok. Checked per pod template.

use super::Finding;
use crate::object::Manifest;
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, SecurityContext};

/// Volume types `restricted` allows.
const VOLUMES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Sysctls the baseline (and so restricted) level allows.
const SAFE_SYSCTLS: [&str; 5] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
];

/// Every `restricted` violation of one pod template at `path`.
pub fn check(m: &Manifest, path: &str, t: &PodTemplateSpec, out: &mut Vec<Finding>) {
    let Some(spec) = &t.spec else { return };
    let at = format!("{path}.spec");
    let mut bad = |field: String, problem: &str| {
        out.push(Finding::new(
            m,
            field,
            format!("Pod Security restricted: {problem}"),
        ));
    };
    let pod = spec.security_context.as_ref();
    if spec.host_network == Some(true) || spec.host_pid == Some(true) || spec.host_ipc == Some(true)
    {
        bad(at.clone(), "host namespaces are not allowed");
    }
    for s in pod.iter().flat_map(|p| p.sysctls.iter().flatten()) {
        if !SAFE_SYSCTLS.contains(&s.name.as_str()) {
            bad(
                format!("{at}.securityContext.sysctls"),
                "only the safe sysctls are allowed",
            );
        }
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let json = serde_json::to_value(v).unwrap_or_default();
        let allowed = json.as_object().is_some_and(|o| {
            o.keys()
                .all(|k| k == "name" || VOLUMES.contains(&k.as_str()))
        });
        if !allowed {
            bad(format!("{at}.volumes.{i}"), "volume type not allowed");
        }
    }
    let pod_non_root = pod.and_then(|p| p.run_as_non_root) == Some(true);
    let pod_seccomp = pod
        .and_then(|p| p.seccomp_profile.as_ref())
        .is_some_and(|s| matches!(s.type_.as_str(), "RuntimeDefault" | "Localhost"));
    if pod.and_then(|p| p.run_as_user) == Some(0) {
        bad(
            format!("{at}.securityContext.runAsUser"),
            "runAsUser 0 is not allowed",
        );
    }
    let containers = spec_containers(spec);
    for (field, c) in containers {
        let cf = format!("{at}.{field}");
        container(
            &cf,
            c.security_context.as_ref(),
            c.ports.iter().flatten().any(|p| p.host_port.is_some()),
            pod_non_root,
            pod_seccomp,
            &mut bad,
        );
    }
}

fn spec_containers(spec: &PodSpec) -> Vec<(String, &k8s_openapi::api::core::v1::Container)> {
    let init = spec.init_containers.iter().flatten().enumerate();
    let main = spec.containers.iter().enumerate();
    init.map(|(i, c)| (format!("initContainers.{i}"), c))
        .chain(main.map(|(i, c)| (format!("containers.{i}"), c)))
        .collect()
}

fn container(
    at: &str,
    sc: Option<&SecurityContext>,
    host_port: bool,
    pod_non_root: bool,
    pod_seccomp: bool,
    bad: &mut impl FnMut(String, &str),
) {
    if host_port {
        bad(format!("{at}.ports"), "hostPort is not allowed");
    }
    let sc_field = format!("{at}.securityContext");
    if sc.and_then(|s| s.privileged) == Some(true) {
        bad(sc_field.clone(), "privileged containers are not allowed");
    }
    if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
        bad(sc_field.clone(), "allowPrivilegeEscalation must be false");
    }
    let non_root = match sc.and_then(|s| s.run_as_non_root) {
        Some(v) => v,
        None => pod_non_root,
    };
    if !non_root {
        bad(
            sc_field.clone(),
            "runAsNonRoot must be true (pod or container)",
        );
    }
    if sc.and_then(|s| s.run_as_user) == Some(0) {
        bad(sc_field.clone(), "runAsUser 0 is not allowed");
    }
    let seccomp = match sc.and_then(|s| s.seccomp_profile.as_ref()) {
        Some(p) => matches!(p.type_.as_str(), "RuntimeDefault" | "Localhost"),
        None => pod_seccomp,
    };
    if !seccomp {
        bad(
            sc_field.clone(),
            "seccompProfile must be RuntimeDefault or Localhost",
        );
    }
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    if !caps
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|d| d.iter().any(|x| x == "ALL"))
    {
        bad(sc_field.clone(), "capabilities must drop ALL");
    }
    if caps
        .and_then(|c| c.add.as_ref())
        .is_some_and(|a| a.iter().any(|x| x != "NET_BIND_SERVICE"))
    {
        bad(sc_field, "only NET_BIND_SERVICE may be added");
    }
}
