//! The Secrets trinity-deploy generates at apply time. Only their names and keys live here: values are
//! random, created in the cluster when absent, and never rendered, logged or written to the repository.

/// One generated Secret: its name and the keys it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedSecret {
    pub name: &'static str,
    /// (key, what it holds). A key named `username`/`root-user` holds a fixed user name, the rest random text.
    pub keys: &'static [&'static str],
}

pub const POSTGRES: GeneratedSecret = GeneratedSecret {
    name: "trinity-postgres",
    keys: &["username", "password"],
};
pub const MONGO: GeneratedSecret = GeneratedSecret {
    name: "trinity-mongo",
    keys: &["username", "password"],
};
pub const MINIO: GeneratedSecret = GeneratedSecret {
    name: "trinity-minio",
    keys: &["root-user", "root-password"],
};
pub const DJANGO: GeneratedSecret = GeneratedSecret {
    name: "trinity-django",
    keys: &["secret-key"],
};
pub const REDIS: GeneratedSecret = GeneratedSecret {
    name: "trinity-redis",
    keys: &["password"],
};

/// Every generated Secret.
pub const ALL: [GeneratedSecret; 5] = [POSTGRES, MONGO, MINIO, DJANGO, REDIS];
