//! `trinity-deploy`: render, validate and apply the Trinity stack. See deploy/README.md.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use trinity_deploy::cluster::{self, apply::ApplyOptions};
use trinity_deploy::object::Manifest;
use trinity_deploy::validate::{self, schema::Schemas};
use trinity_deploy::{render, values};

#[derive(Parser)]
#[command(version, about = "Render, validate and apply the Trinity stack")]
struct Cli {
    /// Values file.
    #[arg(long, global = true, default_value = "config/stack.yaml")]
    values: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the manifests (Helm's kind order), or write one file per component into --out.
    Render {
        /// Directory for `NN-component.yaml` files (stale ones are removed); stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check every object against the Kubernetes 1.33 schema and the lints; exit 1 on findings.
    Validate,
    /// Show what `apply` would change (server-side dry-run against the live objects).
    Diff,
    /// Server-side apply in stages; generated Secrets are created when absent.
    Apply {
        /// Wait for each stage's workloads before the next.
        #[arg(long)]
        wait: bool,
        /// Longest wait for one workload, e.g. 5m.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// One row per component: ready, in progress, failed, or missing objects.
    Status,
    /// Delete objects of this stack that left the values (never data without --include-data).
    Prune {
        #[arg(long)]
        dry_run: bool,
        /// Also delete PersistentVolumeClaims that left the values.
        #[arg(long)]
        include_data: bool,
    },
    /// The generated Secrets.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Forward a local port to a ready trinity-proxy pod, reconnecting per connection.
    PortForward {
        /// Address to listen on; 0.0.0.0 shares it on the LAN.
        #[arg(long, default_value = "127.0.0.1")]
        address: IpAddr,
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Print the values file's JSON Schema (committed as config/stack.schema.json).
    Schema,
    /// Delete the stack; keeps the namespace and data unless --purge.
    Destroy {
        #[arg(long)]
        purge: bool,
    },
}

#[derive(Subcommand)]
enum SecretsAction {
    /// Create every generated Secret that does not exist yet.
    Init,
    /// Replace one generated Secret's values.
    Rotate { name: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Values → manifests, refusing a stack that does not validate.
fn load(path: &Path, check: bool) -> Result<(String, Vec<Manifest>)> {
    let v = values::load(path)?;
    for w in values::warnings(&v) {
        eprintln!("warning: {w}");
    }
    let manifests = render::render(&v)?;
    if check {
        let schemas = Schemas::load()?;
        let findings = validate::validate(&schemas, &manifests);
        if !findings.is_empty() {
            for f in &findings {
                println!("{f}");
            }
            bail!(
                "{} problem(s) in {} objects",
                findings.len(),
                manifests.len()
            );
        }
    }
    Ok((v.namespace, manifests))
}

async fn client() -> Result<kube::Client> {
    kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!("no usable kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster): {e}")
    })
}

async fn run(cli: Cli) -> Result<()> {
    let say = |line: String| println!("{line}");
    match cli.command {
        Command::Render { out } => {
            let (_, manifests) = load(&cli.values, false)?;
            match out {
                Some(dir) => {
                    let files = render::write_dir(&manifests, &dir)?;
                    eprintln!("wrote {} files to {}", files.len(), dir.display());
                }
                None => std::io::stdout()
                    .write_all(render::to_yaml(&manifests)?.as_bytes())
                    .context("writing to stdout")?,
            }
        }
        Command::Schema => print!("{}", values::schema::schema_text()),
        Command::Validate => {
            let (_, manifests) = load(&cli.values, true)?;
            let schemas = Schemas::load()?;
            let checked = manifests.iter().filter(|m| schemas.covers(m)).count();
            println!(
                "ok: {} objects; {checked} checked against the Kubernetes 1.33 schema, all linted",
                manifests.len()
            );
        }
        Command::Diff => {
            let (ns, manifests) = load(&cli.values, true)?;
            let client = client().await?;
            let mut changes = 0;
            for m in &manifests {
                if let Some(d) = cluster::diff::diff_one(&client, m, &ns).await? {
                    print!("{d}");
                    changes += 1;
                }
            }
            println!("{changes} object(s) would change");
        }
        Command::Apply { wait, timeout } => {
            let (ns, manifests) = load(&cli.values, true)?;
            let client = client().await?;
            let opts = ApplyOptions {
                wait,
                timeout,
                poll: Duration::from_secs(2),
            };
            let mut report = say;
            cluster::apply::apply_all(&client, &manifests, &ns, opts, &mut report).await?;
        }
        Command::Status => {
            let (_, manifests) = load(&cli.values, false)?;
            let rows = cluster::status::status(&client().await?, &manifests).await?;
            print!("{}", cluster::status::table(&rows));
        }
        Command::Prune {
            dry_run,
            include_data,
        } => {
            let (ns, manifests) = load(&cli.values, false)?;
            let client = client().await?;
            let plan =
                cluster::prune::prune(&client, &ns, &manifests, dry_run, include_data).await?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            for l in &plan.delete {
                println!("{l}: {verb}");
            }
            for (l, why) in &plan.keep {
                println!("{l}: kept ({why})");
            }
        }
        Command::Secrets { action } => {
            let (ns, _) = load(&cli.values, false)?;
            let client = client().await?;
            match action {
                SecretsAction::Init => {
                    for (name, outcome) in cluster::secrets::init(&client, &ns).await? {
                        println!("Secret/{name}: {outcome:?}");
                    }
                }
                SecretsAction::Rotate { name } => {
                    cluster::secrets::rotate(&client, &ns, &name).await?;
                    println!(
                        "Secret/{name}: rotated. Restart the pods that read it; databases keep their \
                         initial password until it is changed inside them too."
                    );
                }
            }
        }
        Command::PortForward { address, port } => {
            let (ns, _) = load(&cli.values, false)?;
            cluster::port_forward::run(client().await?, &ns, address, port, say).await?;
        }
        Command::Destroy { purge } => {
            let (_, manifests) = load(&cli.values, false)?;
            for d in cluster::destroy::destroy(&client().await?, &manifests, purge).await? {
                println!("{d}: deleted");
            }
        }
    }
    Ok(())
}
