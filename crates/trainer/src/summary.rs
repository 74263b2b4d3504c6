//! `cluster-rl summary`: one Markdown table from several evaluation reports — each scenario a
//! column, each policy a row (mean JCT ± 95% CI), then the paired difference of the trained
//! policy against the reference and how long it trained. The README's results table is this
//! command's output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cluster_env::EvalReport;

use crate::args::SummaryArgs;
use crate::report::Source;

/// One evaluation directory: its report and, for a trained policy, what was evaluated.
struct Column {
    report: EvalReport,
    source: Option<Source>,
}

fn read_column(dir: &Path) -> Result<Column> {
    let path = dir.join("report.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!("{}: cannot read (an evaluation directory written by `cluster-rl eval --out`)", path.display())
    })?;
    let report: EvalReport =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not an evaluation report", path.display()))?;
    let source_path = dir.join("source.json");
    let source = match std::fs::read(&source_path) {
        Ok(b) => Some(serde_json::from_slice(&b).with_context(|| format!("{}: corrupt", source_path.display()))?),
        Err(_) => None,
    };
    Ok(Column { report, source })
}

fn jct(report: &EvalReport, policy: &str) -> Option<(f64, f64)> {
    let m = report.policy(policy)?.metric("mean_jct")?;
    Some((m.value.mean, m.value.ci95))
}

/// `3.0M steps`, `20k steps`, `500 steps`.
fn steps(n: u64) -> String {
    match n {
        1_000_000.. => format!("{:.1}M steps", n as f64 / 1e6),
        1_000.. => format!("{:.0}k steps", n as f64 / 1e3),
        _ => format!("{n} steps"),
    }
}

/// How long the evaluated policy trained: `3.0M steps, 150 s`, or for the best checkpoint of a
/// longer run `3.0M steps in 162 s (best at 1.8M)`.
fn training(src: &Source) -> String {
    let seconds = |t: Option<f64>| t.map_or(String::new(), |t| format!(", {t:.0} s"));
    match (src.global_step, src.run_steps) {
        (Some(at), Some(run)) if run > at => {
            let best = steps(at);
            let best = best.trim_end_matches(" steps");
            let time = src.run_seconds.map_or(String::new(), |t| format!(" in {t:.0} s"));
            format!("{}{time} (best at {best})", steps(run))
        }
        (Some(at), _) => format!("{}{}", steps(at), seconds(src.train_seconds)),
        (None, _) => "? steps".into(),
    }
}

/// The table for `dirs`, in the order given.
///
/// # Errors
/// A directory without a readable `report.json`.
pub fn table(dirs: &[PathBuf]) -> Result<String> {
    if dirs.is_empty() {
        bail!("summary: name at least one evaluation directory");
    }
    let columns = dirs.iter().map(|d| read_column(d)).collect::<Result<Vec<_>>>()?;
    // Rows: every policy in order of first appearance.
    let mut policies: Vec<String> = Vec::new();
    for c in &columns {
        for p in &c.report.policies {
            if !policies.contains(&p.name) {
                policies.push(p.name.clone());
            }
        }
    }
    let mut s = String::from("| policy |");
    for c in &columns {
        let _ = write!(s, " `{}` |", c.report.scenario);
    }
    let _ = write!(s, "\n|---|{}\n", "---|".repeat(columns.len()));
    for name in &policies {
        let _ = write!(s, "| {name} |");
        for c in &columns {
            let best = c
                .report
                .policies
                .iter()
                .filter_map(|p| jct(&c.report, &p.name))
                .map(|(m, _)| m)
                .fold(f64::INFINITY, f64::min);
            match jct(&c.report, name) {
                Some((m, ci)) if m == best => {
                    let _ = write!(s, " **{m:.1} ± {ci:.1}** |");
                }
                Some((m, ci)) => {
                    let _ = write!(s, " {m:.1} ± {ci:.1} |");
                }
                None => s.push_str(" — |"),
            }
        }
        s.push('\n');
    }
    // The trained policy (the first row) against each report's reference, paired by seed.
    let trained = &policies[0];
    let _ = write!(s, "| {trained} − reference (paired) |");
    for c in &columns {
        let r = &c.report;
        let d = r.policy(trained).and_then(|p| p.metric("mean_jct")).and_then(|m| m.diff_vs_reference);
        match (d, r.reference.as_deref(), r.reference_mean_jct()) {
            (Some(d), Some(reference), Some(ref_mean)) if r.reference.as_deref() != Some(trained.as_str()) => {
                let _ = write!(
                    s,
                    " {:+.1} ± {:.1} ({:+.1}% vs {reference}){} |",
                    d.mean,
                    d.ci95,
                    100.0 * d.mean / ref_mean,
                    if d.excludes_zero() { "" } else { " n.s." }
                );
            }
            _ => s.push_str(" — |"),
        }
    }
    let _ = write!(s, "\n| training |");
    for c in &columns {
        match &c.source {
            Some(src) => {
                let _ = write!(s, " {} |", training(src));
            }
            None => s.push_str(" — |"),
        }
    }
    let _ = write!(s, "\n| held-out seeds |");
    for c in &columns {
        let seeds = &c.report.seeds;
        let _ = write!(s, " {} from {} |", seeds.len(), seeds.first().copied().unwrap_or(0));
    }
    s.push('\n');
    Ok(s)
}

/// `cluster-rl summary`.
///
/// # Errors
/// As [`table`], or an unwritable `--out`.
pub fn run(args: &SummaryArgs) -> Result<ExitCode> {
    let text = table(&args.reports)?;
    print!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("{}: cannot write", out.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_env::{SchedulerSpec, evaluate, scenarios};

    fn source_of(dir: &Path) -> Source {
        serde_json::from_slice(&std::fs::read(dir.join("source.json")).unwrap()).unwrap()
    }

    #[test]
    fn one_column_per_report_with_the_best_in_bold() {
        let dir = std::env::temp_dir().join(format!("cluster-rl-summary-{}", std::process::id()));
        let mut dirs = Vec::new();
        for (k, cfg) in [scenarios::seed_case(), scenarios::park_lb()].into_iter().enumerate() {
            let specs: Vec<SchedulerSpec> =
                ["least-loaded", "random"].iter().map(|n| SchedulerSpec::baseline(n).unwrap()).collect();
            let report = evaluate(&cfg, &specs, &[1, 2, 3], Some("least-loaded")).unwrap();
            let d = dir.join(format!("r{k}"));
            crate::report::write_all(&report, &d).unwrap();
            if k == 0 {
                let source = Source {
                    experiment: "x".into(),
                    policy: "ckpt".into(),
                    global_step: Some(1_800_000),
                    train_seconds: Some(101.2),
                    run_steps: Some(3_000_000),
                    run_seconds: Some(171.4),
                };
                crate::report::write_source(&source, &d).unwrap();
            }
            dirs.push(d);
        }
        let t = table(&dirs).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| policy | `seed-case` | `park-lb` |");
        assert!(lines[2].starts_with("| least-loaded | **") && lines[2].matches("**").count() == 4, "{t}");
        assert!(lines[3].starts_with("| random | ") && !lines[3].contains("**"), "{t}");
        assert!(lines[4].starts_with("| least-loaded − reference (paired) | — | — |"), "{t}");
        assert_eq!(lines[5], "| training | 3.0M steps in 171 s (best at 1.8M) | — |");
        let alone = Source { run_steps: None, run_seconds: None, global_step: Some(20_000), ..source_of(&dirs[0]) };
        assert_eq!(training(&alone), "20k steps, 101 s");
        assert_eq!(lines[6], "| held-out seeds | 3 from 1 | 3 from 1 |");
        assert!(table(&[dir.join("missing")]).unwrap_err().to_string().contains("report.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
