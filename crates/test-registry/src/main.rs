//! `tack-registry`: runs the test registry as a standalone process and prints its URL on
//! stdout (for benchmarks and manual runs). `--mirror DIR` serves a filled mirror offline.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tack_test_registry::{parse_bandwidth, parse_duration, RegistryOptions, TestRegistry};

#[derive(Debug, Parser)]
#[command(
    name = "tack-registry",
    about = "npm-protocol test registry on 127.0.0.1"
)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Fixture tree to serve (default: the crate's fixtures).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Serve no fixtures at all.
    #[arg(long)]
    no_fixtures: bool,
    /// Mirror directory filled by scripts/fill-mirror.sh.
    #[arg(long)]
    mirror: Option<PathBuf>,
    /// Round-trip delay per connection and per request, e.g. 50ms.
    #[arg(long, value_parser = parse_rtt)]
    rtt: Option<std::time::Duration>,
    /// Bandwidth cap shared by all connections, e.g. 200mbit or 10MB.
    #[arg(long, value_parser = parse_bw)]
    bandwidth: Option<u64>,
    /// Serve https:// with the committed test certificate (trust crates/test-registry/tls/ca.pem).
    #[arg(long)]
    tls: bool,
    /// With --tls: require a client certificate signed by crates/test-registry/tls/client-ca.pem
    /// (client.pem and client.key are one).
    #[arg(long, requires = "tls")]
    client_auth: bool,
}

fn parse_rtt(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).ok_or_else(|| format!("invalid duration {s:?} (try 50ms)"))
}

fn parse_bw(s: &str) -> Result<u64, String> {
    parse_bandwidth(s).ok_or_else(|| format!("invalid bandwidth {s:?} (try 200mbit)"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut opts = RegistryOptions::default();
    if args.no_fixtures {
        opts.fixtures_dir = None;
    } else if let Some(dir) = args.fixtures {
        opts.fixtures_dir = Some(dir);
    }
    opts.mirror_dir = args.mirror;
    opts.rtt = args.rtt;
    opts.bandwidth_bytes_per_sec = args.bandwidth;
    opts.port = args.port;
    opts.tls = args.tls;
    if args.client_auth {
        opts.client_auth = tack_test_registry::ClientAuth::Required;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tack-registry: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let registry = match TestRegistry::start(opts).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tack-registry: {} {e}", e.code());
                return ExitCode::FAILURE;
            }
        };
        println!("{}", registry.url());
        let _ = tokio::signal::ctrl_c().await;
        drop(registry);
        ExitCode::SUCCESS
    })
}
