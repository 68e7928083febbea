//! The PrometheusRule's alerts on the proxy's metric names (see the metrics contract). Each is tested
//! with `promtool test rules` on synthetic series: deploy/tests/alerts.rs.

use super::proxy::METRICS_SERVICE;
use crate::values::Values;
use serde_json::json;

/// Fraction of a route's requests answered 5xx above which it alerts.
pub const MAX_5XX_RATIO: f64 = 0.05;
/// p99 request latency of a route, in seconds, above which it alerts.
pub const MAX_P99_SECONDS: f64 = 2.0;

/// The rule groups (Prometheus rule file syntax, also the PrometheusRule's `spec.groups`).
pub fn groups(v: &Values) -> serde_json::Value {
    let ns = format!("namespace=\"{}\"", v.namespace);
    // prometheus-operator names a ServiceMonitor target's job after its Service.
    let target = format!("job=\"{METRICS_SERVICE}\", {ns}");
    let requests = |extra: &str| {
        format!("sum by (namespace, route) (rate(trinity_proxy_requests_total{{{ns}{extra}}}[5m]))")
    };
    let ratio_5xx = format!(
        "{} / {} > {MAX_5XX_RATIO}",
        requests(", code=~\"5..\""),
        requests("")
    );
    let p99 = format!(
        "histogram_quantile(0.99, sum by (namespace, route, le) \
         (rate(trinity_proxy_request_duration_seconds_bucket{{{ns}}}[5m]))) > {MAX_P99_SECONDS}"
    );
    let rule = |alert: &str, expr: String, wait: &str, severity: &str, summary: &str| {
        json!({"alert": alert, "expr": expr, "for": wait,
               "labels": {"severity": severity},
               "annotations": {"summary": summary}})
    };
    json!([{
        "name": "trinity-proxy",
        "rules": [
            rule("TrinityProxyTargetDown", format!("up{{{target}}} == 0"), "5m", "critical",
                 "trinity-proxy pod {{ $labels.pod }} does not answer Prometheus' scrapes"),
            // Gone from discovery entirely (no pod, or no ServiceMonitor picked up); down: above.
            rule("TrinityProxyTargetAbsent", format!("absent(up{{{target}}})"), "5m", "critical",
                 "No trinity-proxy target: the proxy is gone or Prometheus does not scrape it"),
            rule("TrinityProxyConfigReloadFailed",
                 format!("trinity_proxy_config_last_reload_successful{{{ns}}} == 0"), "1m", "warning",
                 "trinity-proxy pod {{ $labels.pod }} rejected its new config and serves the previous one"),
            rule("TrinityProxyUpstreamDown",
                 format!("max by (namespace, pod, upstream) (trinity_proxy_endpoint_healthy{{{ns}}}) == 0"),
                 "2m", "critical",
                 "Every endpoint of upstream {{ $labels.upstream }} fails its health checks"),
            rule("TrinityProxyEndpointDown", format!("trinity_proxy_endpoint_healthy{{{ns}}} == 0"),
                 "5m", "warning",
                 "Upstream {{ $labels.upstream }} endpoint {{ $labels.endpoint }} fails its health checks"),
            rule("TrinityProxyHigh5xxRate", ratio_5xx, "10m", "critical",
                 "More than 5% of the requests of route {{ $labels.route }} answer 5xx"),
            rule("TrinityProxyHighP99Latency", p99, "10m", "warning",
                 "p99 latency of route {{ $labels.route }} is above 2s"),
        ]
    }])
}
