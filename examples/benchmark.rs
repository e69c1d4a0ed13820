//! The benchmark, appending to BENCHMARKS.md at the repository root:
//!
//! `cargo run --release --example benchmark -- --model <path> --title "<title>" --change "<description>"`
//!
//! The same benchmark as `aviary bench` (see `aviary::bench`); `--help` lists the flags.

use std::process::ExitCode;

use aviary::bench::{self, BenchArgs, Door};
use clap::Parser;

#[derive(Parser)]
#[command(name = "benchmark", about = "Benchmark an RWKV model and append the results to BENCHMARKS.md")]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let door = Door::repository(env!("CARGO_MANIFEST_DIR"));
    match bench::run(&cli.args, &door, &mut std::io::stdout().lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            ExitCode::FAILURE
        }
    }
}
