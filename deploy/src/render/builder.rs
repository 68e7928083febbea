//! The one component builder: a component's container (image, pull policy, resources, security
//! context, env with the values' `env:` on top, ports, probes, mounts) and the pod around it (security
//! context, volumes, spread). apps.rs, databases.rs, optional.rs and proxy.rs describe their
//! components with it, so a new component or a new per-container field is a few lines in one place.

use super::common::{
    container_security, env, pod_security, pod_security_low_ports, resources, spread,
};
use crate::values::Component;
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, Lifecycle, PersistentVolumeClaimVolumeSource, PodSpec, Probe, Volume,
    VolumeMount,
};

/// A component's container and pod, built step by step.
pub struct Builder<'a> {
    component: &'a Component,
    container: Container,
    /// Env the renderer sets; the values' `env:` is laid over it when the container is taken.
    env: Vec<EnvVar>,
    uid: i64,
    low_ports: bool,
    volumes: Vec<Volume>,
    spread: Option<(String, bool)>,
}

impl<'a> Builder<'a> {
    /// Container `name` running `component`'s image as `uid`, with the stack's security context.
    pub fn new(name: &str, component: &'a Component, uid: i64) -> Self {
        Builder {
            component,
            container: Container {
                name: name.to_owned(),
                image: Some(component.image_ref()),
                image_pull_policy: Some(component.pull_policy.as_str().to_owned()),
                resources: Some(resources(&component.resources)),
                security_context: Some(container_security()),
                ..Container::default()
            },
            env: Vec::new(),
            uid,
            low_ports: false,
            volumes: Vec::new(),
            spread: None,
        }
    }

    /// A named TCP port.
    pub fn port(mut self, name: &str, port: i32) -> Self {
        self.container
            .ports
            .get_or_insert_with(Vec::new)
            .push(ContainerPort {
                name: Some(name.to_owned()),
                container_port: port,
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            });
        self
    }

    /// Env vars, after those given before.
    pub fn env(mut self, vars: impl IntoIterator<Item = EnvVar>) -> Self {
        self.env.extend(vars);
        self
    }

    /// Every key of the ConfigMap `name` as env vars.
    pub fn env_from_config(mut self, name: &str) -> Self {
        self.container
            .env_from
            .get_or_insert_with(Vec::new)
            .push(EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: name.to_owned(),
                    optional: Some(false),
                }),
                ..EnvFromSource::default()
            });
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.container.args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    pub fn command<S: Into<String>>(mut self, command: impl IntoIterator<Item = S>) -> Self {
        self.container.command = Some(command.into_iter().map(Into::into).collect());
        self
    }

    pub fn startup(mut self, p: Probe) -> Self {
        self.container.startup_probe = Some(p);
        self
    }

    pub fn readiness(mut self, p: Probe) -> Self {
        self.container.readiness_probe = Some(p);
        self
    }

    pub fn liveness(mut self, p: Probe) -> Self {
        self.container.liveness_probe = Some(p);
        self
    }

    pub fn lifecycle(mut self, l: Lifecycle) -> Self {
        self.container.lifecycle = Some(l);
        self
    }

    /// Mounts the volume `name` (declared elsewhere, e.g. a StatefulSet's claim template) at `path`.
    pub fn mount(mut self, name: &str, path: &str) -> Self {
        self.push_mount(name, path, None);
        self
    }

    /// A writable emptyDir `name` at `path`.
    pub fn scratch(self, name: &str, path: &str) -> Self {
        self.volume(name, path, None, |v| {
            v.empty_dir = Some(EmptyDirVolumeSource::default());
        })
    }

    /// The PersistentVolumeClaim `claim` as volume `name` at `path`.
    pub fn claim(self, name: &str, path: &str, claim: &str) -> Self {
        self.volume(name, path, None, |v| {
            v.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.to_owned(),
                read_only: None,
            });
        })
    }

    /// The ConfigMap `config_map` as volume `name`, read-only at `path`.
    pub fn config_map(self, name: &str, path: &str, config_map: &str) -> Self {
        self.volume(name, path, Some(true), |v| {
            v.config_map = Some(ConfigMapVolumeSource {
                name: config_map.to_owned(),
                ..ConfigMapVolumeSource::default()
            });
        })
    }

    /// Ports below 1024 for a non-root process (see [`pod_security_low_ports`]).
    pub fn low_ports(mut self) -> Self {
        self.low_ports = true;
        self
    }

    /// The container may not write its image's files (what it needs is mounted).
    pub fn read_only_root(mut self) -> Self {
        if let Some(s) = self.container.security_context.as_mut() {
            s.read_only_root_filesystem = Some(true);
        }
        self
    }

    /// Spread the pods of `app` over nodes (see [`spread`]); `hard`: `DoNotSchedule`.
    pub fn spread(mut self, app: &str, hard: bool) -> Self {
        self.spread = Some((app.to_owned(), hard));
        self
    }

    /// The pod: non-root security context, the container, its volumes and spread.
    pub fn pod(mut self) -> PodSpec {
        let container = self.take_container();
        PodSpec {
            security_context: Some(if self.low_ports {
                pod_security_low_ports(self.uid)
            } else {
                pod_security(self.uid)
            }),
            containers: vec![container],
            volumes: (!self.volumes.is_empty()).then_some(self.volumes),
            topology_spread_constraints: self.spread.map(|(app, hard)| spread(&app, hard)),
            ..PodSpec::default()
        }
    }

    /// The container: the rendered env, then the values' `env:` (a values entry replaces a
    /// rendered one of the same name in place).
    fn take_container(&mut self) -> Container {
        let mut vars = std::mem::take(&mut self.env);
        for (name, value) in &self.component.env {
            match vars.iter_mut().find(|e| &e.name == name) {
                Some(e) => *e = env(name, value),
                None => vars.push(env(name, value)),
            }
        }
        let mut c = std::mem::take(&mut self.container);
        c.env = (!vars.is_empty()).then_some(vars);
        c
    }

    fn volume(
        mut self,
        name: &str,
        path: &str,
        read_only: Option<bool>,
        source: impl FnOnce(&mut Volume),
    ) -> Self {
        let mut v = Volume {
            name: name.to_owned(),
            ..Volume::default()
        };
        source(&mut v);
        self.volumes.push(v);
        self.push_mount(name, path, read_only);
        self
    }

    fn push_mount(&mut self, name: &str, path: &str, read_only: Option<bool>) {
        self.container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: name.to_owned(),
                mount_path: path.to_owned(),
                read_only,
                ..VolumeMount::default()
            });
    }
}
