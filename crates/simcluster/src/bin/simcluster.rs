//! Runs a simulated cluster in the foreground, for manual use and for benchmarks that
//! compare against kubectl.
//!
//! ```text
//! simcluster [--port N] [--seed-file FILE.yaml]... [--kubeconfig-out PATH] [--speed X]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use simcluster::{SimCluster, SimOptions};

struct Args {
    port: u16,
    seed_files: Vec<PathBuf>,
    kubeconfig_out: Option<PathBuf>,
    speed: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        seed_files: Vec::new(),
        kubeconfig_out: None,
        speed: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--port" => {
                args.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--seed-file" => args.seed_files.push(PathBuf::from(value("--seed-file")?)),
            "--kubeconfig-out" => {
                args.kubeconfig_out = Some(PathBuf::from(value("--kubeconfig-out")?))
            }
            "--speed" => {
                args.speed = value("--speed")?
                    .parse()
                    .map_err(|e| format!("--speed: {e}"))?
            }
            "-h" | "--help" => {
                println!(
                    "simcluster [--port N] [--seed-file FILE.yaml]... [--kubeconfig-out PATH] [--speed X]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("simcluster: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = SimOptions {
        port: args.port,
        speed: args.speed,
        ..SimOptions::default()
    };
    let sim = match SimCluster::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simcluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    for f in &args.seed_files {
        let loaded = std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|y| sim.apply_yaml(&y).map_err(|e| e.to_string()));
        if let Err(e) = loaded {
            eprintln!("simcluster: failed to load {}: {e}", f.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(p) = &args.kubeconfig_out
        && let Err(e) = sim.write_kubeconfig(p)
    {
        eprintln!("simcluster: failed to write {}: {e}", p.display());
        return ExitCode::FAILURE;
    }
    println!("simcluster listening on {}", sim.url());
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}
