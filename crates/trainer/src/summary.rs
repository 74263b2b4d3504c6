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
use crate::report::{SOURCE_FILE, Source};

/// One evaluation directory: its report and, for a trained policy, its row and what was
/// evaluated.
struct Column {
    report: EvalReport,
    /// The learned policy's row in `report`; `None` for baselines alone.
    learned: Option<String>,
    source: Option<Source>,
}

/// The learned policy's row of the report in `dir`: the one `source.json` names; for a
/// `source.json` written before names were recorded, or none, the one row that is not a
/// baseline. `None` when the report holds baselines only.
///
/// # Errors
/// A named row that is not in the report, a `source.json` beside a baselines-only report (left
/// by an earlier `eval` into the same directory), or several rows that could be the learned one.
fn learned_row(dir: &Path, report: &EvalReport, source: Option<&Source>) -> Result<Option<String>> {
    let rows = || report.policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(name) = source.and_then(|s| s.learned_policy.as_ref()) {
        if report.policy(name).is_none() {
            bail!(
                "{}: source.json names the learned policy {name:?}, but report.json has no such row (it has {}): \
                 the two files are from different evaluations; run `cluster-rl eval --out` again",
                dir.display(),
                rows()
            );
        }
        return Ok(Some(name.clone()));
    }
    let candidates: Vec<&str> =
        report.policies.iter().map(|p| p.name.as_str()).filter(|n| !cluster_env::BASELINES.contains(n)).collect();
    match (candidates.as_slice(), source) {
        ([], None) => Ok(None),
        ([], Some(_)) => bail!(
            "{}: source.json describes a trained policy, but report.json has only baselines ({}): a stale \
             source.json of an earlier `cluster-rl eval` into this directory; delete it, or run the evaluation again",
            dir.display(),
            rows()
        ),
        ([one], _) => Ok(Some(one.to_string())),
        (many, _) => bail!(
            "{}: cannot tell which policy was trained: report.json has {} policies that are not baselines ({}) and \
             no source.json names one; run `cluster-rl eval --out` again to record it",
            dir.display(),
            many.len(),
            many.join(", ")
        ),
    }
}

fn read_column(dir: &Path) -> Result<Column> {
    let path = dir.join("report.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!("{}: cannot read (an evaluation directory written by `cluster-rl eval --out`)", path.display())
    })?;
    let report: EvalReport =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not an evaluation report", path.display()))?;
    let source_path = dir.join(SOURCE_FILE);
    let source: Option<Source> = match std::fs::read(&source_path) {
        Ok(b) => Some(serde_json::from_slice(&b).with_context(|| format!("{}: corrupt", source_path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", source_path.display())),
    };
    let learned = learned_row(dir, &report, source.as_ref())?;
    Ok(Column { report, learned, source })
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
    // A report names its preset and its policies only: a column whose preset was changed with
    // `--set` (e.g. its cluster resized), or whose learned policy chose under an action filter,
    // is marked `[k]`, and note k under the table says what, so two columns of one preset or one
    // policy are never read as the same thing.
    let mut notes: Vec<String> = Vec::new();
    let mut s = String::from("| policy |");
    for (c, dir) in columns.iter().zip(dirs) {
        let _ = write!(s, " `{}`", c.report.scenario);
        let mut changes: Vec<String> = Vec::new();
        if let Some(src) = &c.source {
            if !src.scenario_sets.is_empty() {
                changes.push(format!("`--set {}`", src.scenario_sets.join("`, `--set ")));
            }
            if let Some(filter) = &src.action_filter {
                changes.push(format!("the learned policy with action filter `{filter}`"));
            }
        }
        if !changes.is_empty() {
            notes.push(format!("{}: {}", dir.display(), changes.join("; ")));
            let _ = write!(s, " [{}]", notes.len());
        }
        s.push_str(" |");
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
    // Each report's learned policy against its reference, paired by seed. The row is named
    // after the learned policy when every report calls it the same.
    let mut learned: Vec<&str> = columns.iter().filter_map(|c| c.learned.as_deref()).collect();
    learned.sort_unstable();
    learned.dedup();
    let label = match learned.as_slice() {
        [one] => *one,
        _ => "learned policy",
    };
    let _ = write!(s, "| {label} − reference (paired) |");
    for c in &columns {
        let r = &c.report;
        let Some(trained) = c.learned.as_deref() else {
            s.push_str(" — |");
            continue;
        };
        let d = r.policy(trained).and_then(|p| p.metric("mean_jct")).and_then(|m| m.diff_vs_reference);
        match (d, r.reference.as_deref(), r.reference_mean_jct()) {
            (Some(d), Some(reference), Some(ref_mean)) if reference != trained => {
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
        // Training time belongs to the learned policy: a report without one has none.
        match (&c.learned, &c.source) {
            (Some(_), Some(src)) => {
                let _ = write!(s, " {} |", training(src));
            }
            _ => s.push_str(" — |"),
        }
    }
    let _ = write!(s, "\n| held-out seeds |");
    for c in &columns {
        let seeds = &c.report.seeds;
        let _ = write!(s, " {} from {} |", seeds.len(), seeds.first().copied().unwrap_or(0));
    }
    s.push('\n');
    if !notes.is_empty() {
        s.push('\n');
        for (k, note) in notes.iter().enumerate() {
            let _ = writeln!(s, "[{}] {note}", k + 1);
        }
    }
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

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cluster-rl-summary-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A report of least-loaded and random on three seeds of `cfg`, with each row in `rename`
    /// (`(from, to)`) renamed: `("random", "dqn")` stands in for a learned policy.
    fn report(cfg: &cluster_env::ScenarioConfig, rename: &[(&str, &str)]) -> EvalReport {
        let specs: Vec<SchedulerSpec> =
            ["least-loaded", "random"].iter().map(|n| SchedulerSpec::baseline(n).unwrap()).collect();
        let mut report = evaluate(cfg, &specs, &[1, 2, 3], Some("least-loaded")).unwrap();
        for p in &mut report.policies {
            if let Some((_, to)) = rename.iter().find(|(from, _)| *from == p.name) {
                p.name = to.to_string();
            }
        }
        report
    }

    fn trained_source(learned_policy: Option<&str>) -> Source {
        Source {
            learned_policy: learned_policy.map(String::from),
            experiment: "x".into(),
            policy: "ckpt".into(),
            global_step: Some(1_800_000),
            train_seconds: Some(101.2),
            run_steps: Some(3_000_000),
            run_seconds: Some(171.4),
            scenario: None,
            scenario_sets: vec![],
            action_filter: None,
        }
    }

    fn write(dir: &Path, report: &EvalReport, source: Option<&Source>) -> PathBuf {
        crate::report::write_all(report, dir).unwrap();
        if let Some(source) = source {
            crate::report::write_source(source, dir).unwrap();
        }
        dir.to_path_buf()
    }

    /// Two columns of one preset, one of them resized with `--set`: its header is marked and
    /// the note under the table says what changed; an unchanged column gets no mark.
    #[test]
    fn a_column_whose_preset_was_changed_says_how() {
        let dir = scratch("sets");
        let changed = Source {
            scenario: Some("seed-case".into()),
            scenario_sets: vec!["workload.n_tasks=30".into(), "failures.enabled=false".into()],
            ..trained_source(Some("dqn"))
        };
        let filtered = Source { action_filter: Some("fits-now".into()), ..trained_source(Some("dqn")) };
        let plain = report(&scenarios::seed_case(), &[("random", "dqn")]);
        let dirs = [
            write(&dir.join("as-trained"), &plain, Some(&trained_source(Some("dqn")))),
            write(&dir.join("short"), &plain, Some(&changed)),
            write(&dir.join("filtered"), &plain, Some(&filtered)),
        ];
        let t = table(&dirs).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| policy | `seed-case` | `seed-case` [1] | `seed-case` [2] |", "{t}");
        assert_eq!(
            lines[lines.len() - 2..],
            [
                format!(
                    "[1] {}: `--set workload.n_tasks=30`, `--set failures.enabled=false`",
                    dir.join("short").display()
                ),
                format!("[2] {}: the learned policy with action filter `fits-now`", dir.join("filtered").display())
            ],
            "{t}"
        );
        assert_eq!(t.matches('[').count(), 4, "two marks, two notes: {t}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_column_per_report_with_the_best_in_bold() {
        let dir = scratch("columns");
        let dirs = [
            write(
                &dir.join("r0"),
                &report(&scenarios::seed_case(), &[("random", "dqn")]),
                Some(&trained_source(Some("dqn"))),
            ),
            write(&dir.join("r1"), &report(&scenarios::park_lb(), &[]), None),
        ];
        let t = table(&dirs).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| policy | `seed-case` | `park-lb` |");
        assert!(lines[2].starts_with("| least-loaded | **") && lines[2].matches("**").count() == 4, "{t}");
        assert!(lines[3].starts_with("| dqn | ") && !lines[3].contains("**") && lines[3].ends_with(" — |"), "{t}");
        assert!(lines[4].starts_with("| random | — | "), "{t}");
        assert!(
            lines[5].starts_with("| dqn − reference (paired) | +")
                && lines[5].contains("vs least-loaded)")
                && lines[5].ends_with(" | — |"),
            "{t}"
        );
        assert_eq!(lines[6], "| training | 3.0M steps in 171 s (best at 1.8M) | — |");
        let alone = Source { run_steps: None, run_seconds: None, global_step: Some(20_000), ..source_of(&dirs[0]) };
        assert_eq!(training(&alone), "20k steps, 101 s");
        assert_eq!(lines[7], "| held-out seeds | 3 from 1 | 3 from 1 |");
        assert!(table(&[dir.join("missing")]).unwrap_err().to_string().contains("report.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 13: the paired row was computed for the first policy of the first report, so a
    /// baselines-only report first made it least-loaded's row (and the trained policy's
    /// difference was never shown).
    #[test]
    fn the_paired_row_is_the_learned_policy_even_after_a_baselines_only_report() {
        let dir = scratch("order");
        let dirs = [
            write(&dir.join("baselines"), &report(&scenarios::park_lb(), &[]), None),
            write(
                &dir.join("eval"),
                &report(&scenarios::seed_case(), &[("random", "dqn")]),
                Some(&trained_source(Some("dqn"))),
            ),
        ];
        let t = table(&dirs).unwrap();
        let paired = t.lines().find(|l| l.contains("reference (paired)")).unwrap();
        assert!(paired.starts_with("| dqn − reference (paired) | — | +"), "{t}");
        let training = t.lines().find(|l| l.starts_with("| training")).unwrap();
        assert_eq!(training, "| training | — | 3.0M steps in 171 s (best at 1.8M) |");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A legacy `source.json` (no `learned_policy`) beside a baselines-only report is stale, a
    /// named row must exist, and two candidate rows without a name are ambiguous: each an error
    /// naming the directory, never a table that attributes results to the wrong policy.
    #[test]
    fn stale_or_ambiguous_sources_are_errors() {
        let dir = scratch("stale");
        let stale = write(&dir.join("stale"), &report(&scenarios::park_lb(), &[]), Some(&trained_source(None)));
        let e = format!("{:#}", table(&[stale]).unwrap_err());
        assert!(e.contains("stale") && e.contains("report.json has only baselines (least-loaded, random)"), "{e}");
        let wrong = write(&dir.join("wrong"), &report(&scenarios::park_lb(), &[]), Some(&trained_source(Some("dqn"))));
        let e = format!("{:#}", table(&[wrong]).unwrap_err());
        assert!(e.contains("source.json names the learned policy \"dqn\", but report.json has no such row"), "{e}");
        let two = [("least-loaded", "dqn-a"), ("random", "dqn-b")];
        let ambiguous = write(&dir.join("two"), &report(&scenarios::park_lb(), &two), Some(&trained_source(None)));
        let e = format!("{:#}", table(&[ambiguous]).unwrap_err());
        assert!(e.contains("cannot tell which policy was trained") && e.contains("(dqn-a, dqn-b)"), "{e}");
        // A legacy source.json with one learned row still works.
        let legacy = write(
            &dir.join("legacy"),
            &report(&scenarios::park_lb(), &[("random", "dqn")]),
            Some(&trained_source(None)),
        );
        assert!(table(&[legacy]).unwrap().contains("| dqn − reference (paired) | +"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
