//! `cluster-rl sweep status DIR`: one line per run from its own `state.json` (no Slurm
//! accounting needed), with the step of its newest checkpoint, and a count per status.
//!
//! A run whose file says `training` or `evaluating` but whose lock nobody holds was killed
//! (SIGKILL, a lost node): it is shown as `training (not running)`, and `sweep run` resumes it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::plan::Plan;
use super::run_one::{checkpoint_root, latest_step};
use super::state::{RunState, Status, is_running};

/// The first line of `s`, at most `n` characters.
fn short(s: &str, n: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > n {
        format!("{}…", line.chars().take(n - 1).collect::<String>())
    } else {
        line.to_string()
    }
}

/// `cluster-rl sweep status`.
///
/// # Errors
/// A directory without a sweep, or a corrupt state file.
pub fn run(dir: &Path) -> Result<ExitCode> {
    let plan = Plan::load(dir)?;
    println!("sweep {} in {}: {} runs", plan.name, dir.display(), plan.runs.len());
    println!(
        "{:<12} {:>6}  {:<24} {:>8} {:>10}  {:<20}  {:<40} last error",
        "run", "seed", "status", "attempts", "step", "updated", "configuration"
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &plan.runs {
        let run_dir = Plan::run_dir(dir, run);
        let st = RunState::load(&run_dir)?;
        let live = is_running(&run_dir);
        let status = match st.status {
            Status::Training | Status::Evaluating if !live => format!("{} (not running)", st.status.as_str()),
            s if live => format!("{} (running)", s.as_str()),
            s => s.as_str().to_string(),
        };
        *counts.entry(st.status.as_str()).or_default() += 1;
        let step = checkpoint_root(&run_dir)
            .ok()
            .and_then(|root| latest_step(&root).ok().flatten())
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        let c = &plan.configurations[run.configuration];
        let label = if c.sets.is_empty() { "(base)".to_string() } else { c.sets.join(", ") };
        println!(
            "{:<12} {:>6}  {:<24} {:>8} {:>10}  {:<20}  {:<40} {}",
            run.id,
            run.seed,
            status,
            st.attempts,
            step,
            st.updated_at,
            short(&label, 40),
            short(st.last_error.as_deref().unwrap_or("-"), 80)
        );
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!("{}", summary.join(", "));
    Ok(ExitCode::SUCCESS)
}
