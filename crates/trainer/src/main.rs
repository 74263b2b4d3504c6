//! `cluster-rl`: the trainer binary. Thin: parse the arguments and run them with the `trainer`
//! library ([`trainer::run`]), which prints errors as `cluster-rl: {:#}` and exits 2 on failure
//! (bad input, unreadable files, a diverged run).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    trainer::run(trainer::args::Cli::parse())
}
