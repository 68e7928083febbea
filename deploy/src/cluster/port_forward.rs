//! `port-forward`: a local listener whose every connection is forwarded to port 80 of a ready
//! trinity-proxy pod, chosen afresh per connection ([`PodChoice`]): the pod in use is kept while it is
//! ready and not terminating, otherwise the next connection goes to another one (reported), so a
//! replaced pod is picked up without a restart.
//! Replaces the old exposure script; prints the URLs to share on the LAN.

use super::{ClusterError, explain};
use crate::render::PROXY_NAME;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpListener, TcpStream};

/// The proxy port forwarded to.
pub const POD_PORT: u16 = 80;

/// `prefer` when it is still Ready and not terminating, else the first (by name) pod that is.
pub fn pick_ready_pod(pods: &[Pod], prefer: Option<&str>) -> Option<String> {
    let mut ready: Vec<&str> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    if let Some(p) = prefer.filter(|p| ready.contains(p)) {
        return Some(p.to_owned());
    }
    ready.sort_unstable();
    ready.first().map(|s| (*s).to_owned())
}

/// URLs under which the listener is reachable: every non-loopback IPv4 address for 0.0.0.0.
pub fn urls(bound: SocketAddr) -> Vec<String> {
    let port = bound.port();
    if !bound.ip().is_unspecified() {
        return vec![format!("http://{}:{port}/", bound.ip())];
    }
    let mut out: Vec<String> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(ip) => Some(format!("http://{ip}:{port}/")),
            IpAddr::V6(_) => None,
        })
        .collect();
    out.insert(0, format!("http://127.0.0.1:{port}/"));
    out
}

/// The pod connections go to, chosen again for every connection from a fresh pod list.
#[derive(Debug, Default)]
pub struct PodChoice {
    current: Option<String>,
}

impl PodChoice {
    /// The pod for the next connection, and whether it differs from the previous connection's.
    pub async fn next(
        &mut self,
        client: &kube::Client,
        namespace: &str,
    ) -> Result<(String, bool), ClusterError> {
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={PROXY_NAME}")))
            .await
            .map_err(|e| explain("trinity-proxy pods".to_owned(), e))?;
        let pod = pick_ready_pod(&pods.items, self.current.as_deref()).ok_or_else(|| {
            ClusterError::Rejected {
                object: "Deployment/trinity-proxy".to_owned(),
                message: "no ready pod to forward to".to_owned(),
            }
        })?;
        let changed = self.current.as_deref() != Some(pod.as_str());
        self.current = Some(pod.clone());
        Ok((pod, changed))
    }
}

async fn forward(
    client: kube::Client,
    namespace: String,
    pod: String,
    mut conn: TcpStream,
) -> Result<(), ClusterError> {
    let api = Api::<Pod>::namespaced(client, &namespace);
    let mut pf = api
        .portforward(&pod, &[POD_PORT])
        .await
        .map_err(|e| explain(format!("Pod/{pod} port-forward"), e))?;
    let Some(mut upstream) = pf.take_stream(POD_PORT) else {
        return Ok(());
    };
    // A connection reset by either side just ends this one forward.
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    let _ = pf.join().await;
    Ok(())
}

/// Listens on `address:port` until the process is stopped; `report` receives the URLs and problems.
pub async fn run(
    client: kube::Client,
    namespace: &str,
    address: IpAddr,
    port: u16,
    report: impl Fn(String) + Send + Sync + 'static,
) -> Result<(), ClusterError> {
    let mut choice = PodChoice::default();
    let (pod, _) = choice.next(&client, namespace).await?;
    let listener =
        TcpListener::bind((address, port))
            .await
            .map_err(|e| ClusterError::Rejected {
                object: format!("listener {address}:{port}"),
                message: e.to_string(),
            })?;
    let bound = listener.local_addr().map_err(|e| ClusterError::Rejected {
        object: "listener".to_owned(),
        message: e.to_string(),
    })?;
    report(format!("forwarding to trinity-proxy (now {pod}) at:"));
    for url in urls(bound) {
        report(format!("  {url}"));
    }
    let report = std::sync::Arc::new(report);
    loop {
        let (conn, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                report(format!("accept failed: {e}"));
                continue;
            }
        };
        let pod = match choice.next(&client, namespace).await {
            Ok((pod, changed)) => {
                if changed {
                    report(format!(
                        "trinity-proxy pod changed: now forwarding to {pod}"
                    ));
                }
                pod
            }
            Err(e) => {
                report(format!("forward failed: {e}"));
                continue;
            }
        };
        let (client, ns, report) = (client.clone(), namespace.to_owned(), report.clone());
        tokio::spawn(async move {
            if let Err(e) = forward(client, ns, pod, conn).await {
                report(format!("forward failed: {e}"));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: &str, deleting: bool) -> Pod {
        let mut v = json!({"metadata": {"name": name},
                           "status": {"conditions": [{"type": "Ready", "status": ready}]}});
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn picks_a_ready_pod_that_is_not_terminating() {
        let pods = [
            pod("p-c", "True", false),
            pod("p-a", "True", true),
            pod("p-b", "False", false),
        ];
        assert_eq!(pick_ready_pod(&pods, None).as_deref(), Some("p-c"));
        assert_eq!(pick_ready_pod(&[pod("x", "False", false)], None), None);
        let two = [pod("p-a", "True", false), pod("p-b", "True", false)];
        assert_eq!(pick_ready_pod(&two, Some("p-b")).as_deref(), Some("p-b"));
        assert_eq!(pick_ready_pod(&pods, Some("p-a")).as_deref(), Some("p-c"));
    }

    #[test]
    fn urls_for_a_specific_address() {
        let u = urls("192.0.2.7:8080".parse().unwrap());
        assert_eq!(u, ["http://192.0.2.7:8080/"]);
        assert_eq!(
            urls("0.0.0.0:8080".parse().unwrap())[0],
            "http://127.0.0.1:8080/"
        );
    }
}
