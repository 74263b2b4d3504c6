//! `cluster-rl`: the trainer binary. Thin: parse the arguments and run them with the `trainer`
//! library ([`trainer::run`]), which prints errors as `cluster-rl: {:#}` and exits 2 on failure
//! (bad input, unreadable files, a diverged run).

use std::process::ExitCode;

use clap::Parser;

// Why not the system allocator: burn's tensors allocate and free buffers of the same few
// sizes thousands of times per second, and glibc's malloc hands the large ones back to the
// kernel (munmap / heap trimming) only to fault them in again on the next TD update. Measured
// on a node-scoring training run (60k steps): 22% of the wall time went to page faults and
// `brk`; mimalloc keeps them (see the README's speed section for the numbers).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    trainer::run(trainer::args::Cli::parse())
}
