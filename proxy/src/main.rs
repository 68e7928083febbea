//! `trinity-proxy --config FILE [--check]`, `trinity-proxy demo [--listen ADDR] [--admin ADDR]`,
//! `trinity-proxy status [--admin ADDR]` and `trinity-proxy schema`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trinity_proxy::config::Config;
use trinity_proxy::server::{Options, Server};
use trinity_proxy::{demo, log, status_cmd};

/// mimalloc instead of glibc malloc: glibc trimmed the heap after every 64 KiB body and faulted
/// the pages back in on the next request (~15 page faults per request); mimalloc keeps them and
/// is faster on the many small per-request allocations. Figures: benches/RESULTS.md, notes.
/// With the `heap-stats` feature (the soak's build) the library declares it instead, wrapped in
/// a counter of live heap bytes (`trinity_proxy::heap`).
#[cfg(not(feature = "heap-stats"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "trinity-proxy",
    version,
    about = "Trinity ingress: HTTP ingress data plane on Pingora"
)]
struct Cli {
    /// Config file (YAML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Validate the config: print `ok`, or `FILE:LINE:COL: field.path: problem` lines; exit 0 or 1.
    #[arg(long, requires = "config")]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run stand-in Trinity services behind the proxy (routes from config/demo.yaml).
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
    },
    /// Print the routes, upstreams and endpoint states of a running proxy. Exit 0; 1 when an
    /// upstream has no eligible endpoint; 2 when the admin listener cannot be read.
    Status {
        /// Its admin listener, HOST:PORT. Default: `admin` of --config FILE (0.0.0.0 read as
        /// 127.0.0.1), else 127.0.0.1:9901.
        #[arg(long)]
        admin: Option<String>,
    },
    /// Print the config file's JSON Schema (committed as config/trinity-proxy.schema.json).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trinity-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::Demo { listen, admin }) = cli.command {
        let _log = log::init();
        let rt = control_runtime()?;
        return rt.block_on(async move {
            let signals = Signals::install()?;
            let (config, _stand_ins) = demo::config_with_stand_ins(listen, admin).await?;
            let server = Server::start(&config).await?;
            print_demo_urls(&server, &config);
            signals.serve_until_stopped(server).await
        });
    }
    if let Some(Command::Schema) = cli.command {
        print!("{}", trinity_proxy::config::schema::schema_text());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Status { admin }) = cli.command {
        return Ok(status(admin, cli.config.as_deref()));
    }
    let Some(path) = cli.config else {
        anyhow::bail!("--config FILE is required");
    };
    let (config, text) = match Config::load(&path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if cli.check {
        println!("ok");
        return Ok(ExitCode::SUCCESS);
    }
    let _log = log::init();
    let rt = control_runtime()?;
    rt.block_on(async move {
        let mut signals = Signals::install()?;
        let options = Options {
            config_path: Some(path),
            config_text: Some(text),
            hangup: signals.hup.take(),
            listener: trinity_proxy::listen::Mode::from_env(),
            ..Options::default()
        };
        let server = Server::start_with(&config, options).await?;
        signals.serve_until_stopped(server).await
    })
}

/// `trinity-proxy status`: the table, and the exit code scripts read.
fn status(admin: Option<String>, config: Option<&Path>) -> ExitCode {
    let unreadable = ExitCode::from(status_cmd::EXIT_UNREACHABLE);
    let addr = match (admin, config) {
        (Some(addr), _) => addr,
        (None, Some(path)) => match Config::load(path) {
            Ok((config, _)) => reachable(config.admin).to_string(),
            Err(errors) => {
                eprintln!("{errors}");
                return unreadable;
            }
        },
        (None, None) => DEFAULT_STATUS_ADMIN.to_owned(),
    };
    let fetched = match control_runtime() {
        Ok(rt) => rt.block_on(status_cmd::fetch(&addr)),
        Err(e) => {
            eprintln!("trinity-proxy status: {e:#}");
            return unreadable;
        }
    };
    match fetched {
        Ok(status) => {
            print!("{}", status.render(&addr));
            if status.failing().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(status_cmd::EXIT_UNHEALTHY)
            }
        }
        Err(e) => {
            eprintln!("trinity-proxy status: {e}");
            unreadable
        }
    }
}

/// Where `trinity-proxy status` looks without --admin or --config: the demo's admin listener (and
/// the default `admin` port on this host).
const DEFAULT_STATUS_ADMIN: &str = "127.0.0.1:9901";

/// A listener bound to every address is reached on loopback.
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// The control plane's runtime, on the main thread: admin listener, health checks, discovery,
/// reloads and signals. Requests are served on the server's own worker threads (`workers.rs`,
/// `threads` of them), so neither takes time from the other.
fn control_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// SIGTERM and SIGINT handlers, installed before the server announces itself so that an early
/// signal is handled rather than fatal.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    /// Handed to the server for reloads; installed in every mode so SIGHUP is never fatal.
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: Some(signal(SignalKind::hangup()).context("installing the SIGHUP handler")?),
        })
    }

    /// SIGTERM: drain (readiness off, `drain_delay`, then finish in-flight requests within
    /// `shutdown.timeout`), exit 0. SIGINT: stop at once. (SIGHUP reloads: see `reload.rs`.)
    async fn serve_until_stopped(mut self, server: Server) -> anyhow::Result<ExitCode> {
        tokio::select! {
            _ = self.term.recv() => {
                tracing::info!("SIGTERM: draining");
                tokio::select! {
                    () = server.drain() => tracing::info!("drained: exiting"),
                    _ = self.int.recv() => tracing::info!("SIGINT during the drain: stopping"),
                }
            }
            _ = self.int.recv() => tracing::info!("SIGINT: stopping"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_demo_urls(server: &Server, config: &Config) {
    let base = format!("http://{}", server.listen_addrs[0]);
    println!("trinity-proxy demo is up. Try:");
    for r in &config.routes {
        let path = r.matcher.as_str();
        let upstream = &config.upstreams[r.upstream];
        println!(
            "  curl {base}{path:<16}  -> {:<14} ({} replica{})",
            upstream.name,
            upstream.endpoints.len(),
            if upstream.endpoints.len() == 1 {
                ""
            } else {
                "s"
            }
        );
    }
    let admin = format!("http://{}", server.admin_addr);
    println!("Admin: curl {admin}/metrics  {admin}/status  {admin}/readyz");
    println!("Stop with Ctrl-C.");
}
