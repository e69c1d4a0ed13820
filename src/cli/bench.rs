//! `aviary bench`: the benchmark with BENCHMARKS.md in the current directory by default.

use anyhow::Result;
use aviary::bench::{self, BenchArgs, Door};

pub fn run(args: BenchArgs) -> Result<()> {
    bench::run(&args, &Door::current_dir(), &mut std::io::stdout().lock())?;
    Ok(())
}
