//! `trinity-deploy`: render and validate the Trinity stack. See deploy/README.md.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use trinity_deploy::validate::{self, schema::Schemas};
use trinity_deploy::{render, values};

#[derive(Parser)]
#[command(version, about = "Render, validate and apply the Trinity stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the stack's manifests (Helm's kind order), or write one file per component into --out.
    Render {
        /// Values file.
        #[arg(long, default_value = "config/stack.yaml")]
        values: PathBuf,
        /// Directory for `NN-component.yaml` files (stale ones are removed); stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check every object against the Kubernetes 1.33 schema and the lints; exit 1 on findings.
    Validate {
        /// Values file.
        #[arg(long, default_value = "config/stack.yaml")]
        values: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Render { values, out } => {
            let v = values::load(&values)?;
            let manifests = render::render(&v)?;
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
        Command::Validate { values } => {
            let v = values::load(&values)?;
            let manifests = render::render(&v)?;
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
            let checked = manifests.iter().filter(|m| schemas.covers(m)).count();
            println!(
                "ok: {} objects; {checked} checked against the Kubernetes 1.33 schema, all linted",
                manifests.len()
            );
        }
    }
    Ok(())
}
