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

/// Env var names the rendered containers read from a Secret (generated, or the operator's cloudflared
/// token), with that Secret; a values `env:` entry may not set one. A test checks the render against it.
pub const SECRET_ENV: [(&str, &str); 15] = [
    ("POSTGRES_USER", POSTGRES.name),
    ("POSTGRES_PASSWORD", POSTGRES.name),
    ("PGPASSWORD", POSTGRES.name),
    ("MONGO_USER", MONGO.name),
    ("MONGO_PASSWORD", MONGO.name),
    ("MONGO_INITDB_ROOT_USERNAME", MONGO.name),
    ("MONGO_INITDB_ROOT_PASSWORD", MONGO.name),
    ("MINIO_ACCESS_KEY", MINIO.name),
    ("MINIO_SECRET_KEY", MINIO.name),
    ("MINIO_ROOT_USER", MINIO.name),
    ("MINIO_ROOT_PASSWORD", MINIO.name),
    ("REDIS_PASSWORD", REDIS.name),
    ("REDISCLI_AUTH", REDIS.name),
    ("DJANGO_SECRET_KEY", DJANGO.name),
    ("TUNNEL_TOKEN", "cloudflared.token_secret"),
];

/// The Secret an env var of that name is read from, when it is one of [`SECRET_ENV`].
pub fn secret_of_env(name: &str) -> Option<&'static str> {
    SECRET_ENV.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
