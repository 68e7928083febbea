//! The shapes, in the JSON Schema, of the values the file format keeps as strings or loose YAML
//! (durations, sizes, CIDRs, addresses, the balancing choice, a Kubernetes port): marker types
//! that `file.rs` names with `#[schemars(with = …)]`. A pattern here never accepts less than the
//! loader does (`convert.rs` is the judge).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// A string schema named `name`.
macro_rules! string_schema {
    ($ty:ident, $name:literal, $pattern:literal, $description:literal) => {
        #[doc = $description]
        pub struct $ty;

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description,
                })
            }
        }
    };
}

string_schema!(
    Duration,
    "Duration",
    r"^\s*([0-9]+\s*(nsec|ns|usec|us|µs|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)\s*)+$",
    "A duration like \"500ms\", \"2s\", \"5m\" or \"1h 30m\"; greater than zero."
);
string_schema!(
    Cidr,
    "Cidr",
    r"^\s*[0-9A-Fa-f:.]+(/[0-9]{1,3})?\s*$",
    "A CIDR like \"10.0.0.0/8\" or \"fd00::/8\", or a single IP address."
);
string_schema!(
    SocketAddr,
    "SocketAddr",
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):[0-9]{1,5}$",
    "An IP address and port: `0.0.0.0:8080`, `[::1]:9901` (no host names)."
);

/// A size in bytes: a number or a string like `512B`, `32KiB`, `10MiB`.
pub struct Size;

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes: a number, or a string like \"512B\", \"32KiB\", \"10MiB\" (K/KiB = 1024, KB = 1000; likewise M and G).",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": r"^\s*[0-9]+\s*([Bb]|[KkMmGg]([Ii]?[Bb])?)?\s*$" }
            ]
        })
    }
}

/// `upstreams.NAME.load_balancing`.
pub struct LoadBalancing;

impl JsonSchema for LoadBalancing {
    fn schema_name() -> Cow<'static, str> {
        "LoadBalancing".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let named = |key: &str| {
            json_schema!({
                "type": "object",
                "properties": { key: { "type": "string", "minLength": 1 } },
                "required": [key],
                "additionalProperties": false,
            })
        };
        json_schema!({
            "description": "round_robin (default), least_request (power of two choices on in-flight requests), or consistent hashing: { hash: { header: NAME } }, { hash: { cookie: NAME } }, { hash: client_ip }.",
            "oneOf": [
                { "type": "string", "enum": ["round_robin", "least_request"] },
                {
                    "type": "object",
                    "properties": {
                        "hash": {
                            "oneOf": [
                                { "type": "string", "enum": ["client_ip"] },
                                named("header"),
                                named("cookie"),
                            ]
                        }
                    },
                    "required": ["hash"],
                    "additionalProperties": false,
                }
            ]
        })
    }
}

/// `upstreams.NAME.kubernetes.port`.
pub struct KubernetesPort;

impl JsonSchema for KubernetesPort {
    fn schema_name() -> Cow<'static, str> {
        "KubernetesPort".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A port number (1-65535) or the name of a port of the Service's EndpointSlices.",
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "type": "string", "minLength": 1 }
            ]
        })
    }
}
