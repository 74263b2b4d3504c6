//! Report files of an evaluation: `report.json` (everything, per episode), `report.csv` and
//! `report.md` (one row per policy), `report.svg` (mean JCT with 95% CIs as bars), and
//! `source.json` ([`Source`]: what was evaluated), which `cluster-rl summary` reads back.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use cluster_env::{EvalReport, PolicyReport};
use serde::{Deserialize, Serialize};

/// What an evaluation evaluated: written beside the report as `source.json`, read back by
/// `cluster-rl summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The row of `report.json` that is the learned policy (`dqn`), which `summary` reports on.
    /// Absent in files written before it was recorded; `summary` then takes the one row that
    /// is not a baseline.
    #[serde(default)]
    pub learned_policy: Option<String>,
    /// The experiment's name.
    pub experiment: String,
    /// The checkpoint or export directory evaluated.
    pub policy: std::path::PathBuf,
    /// Environment steps the policy was trained for, when known.
    pub global_step: Option<u64>,
    /// Wall-clock training seconds, when the checkpoint recorded them.
    pub train_seconds: Option<f64>,
    /// Environment steps of the whole run, when its `latest` checkpoint is beside this one.
    #[serde(default)]
    pub run_steps: Option<u64>,
    /// Wall-clock seconds of the whole run, likewise.
    #[serde(default)]
    pub run_seconds: Option<f64>,
    /// The preset evaluated instead of the experiment's own scenario (`eval --scenario`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The `--set` overrides applied to that preset, as given: `report.json` names the preset
    /// only, which alone would not say that its cluster or workload was changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario_sets: Vec<String>,
    /// The learned policy's action filter (`eval --action-filter`, or an export's own), when it
    /// has one: the same network chooses differently with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_filter: Option<String>,
}

/// Writes `text` to `out/name` crash-safely.
fn write_file(out: &Path, name: &str, text: &str) -> Result<()> {
    let path = out.join(name);
    durable::write_atomic(&path, text.as_bytes()).with_context(|| format!("{}: cannot write", path.display()))
}

/// The columns of the summary table: metric name and header.
const COLUMNS: [(&str, &str); 6] = [
    ("p95_jct", "p95 JCT"),
    ("weighted_mean_jct", "weighted JCT"),
    ("mean_slowdown", "slowdown"),
    ("mean_utilisation", "utilisation"),
    ("load_imbalance", "imbalance"),
    ("completed", "completed"),
];

fn value(p: &PolicyReport, metric: &str) -> f64 {
    p.metric(metric).map_or(f64::NAN, |m| m.value.mean)
}

/// Paired difference of mean JCT against the reference: (mean, ci95, percent, significant).
fn diff(report: &EvalReport, p: &PolicyReport) -> Option<(f64, f64, f64, bool)> {
    let d = p.metric("mean_jct")?.diff_vs_reference?;
    let pct = 100.0 * d.mean / report.reference_mean_jct().unwrap_or(f64::NAN);
    Some((d.mean, d.ci95, pct, d.excludes_zero()))
}

/// Writes the four report files into `out` (created if needed).
///
/// # Errors
/// If a file cannot be written.
pub fn write_all(report: &EvalReport, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the report directory", out.display()))?;
    write_file(out, "report.json", &serde_json::to_string_pretty(report)?)?;
    write_file(out, "report.csv", &csv(report))?;
    write_file(out, "report.md", &markdown(report))?;
    write_file(out, "report.svg", &svg(report))
}

/// The file [`Source`] is written to.
pub const SOURCE_FILE: &str = "source.json";

/// Writes `source.json` (what was evaluated) into `out` (created if needed). Call it before
/// [`write_all`]: a crash in between then leaves the new source with the old reports, which
/// `summary` refuses (they name different policies), never old provenance on new results.
///
/// # Errors
/// If the file cannot be written.
pub fn write_source(source: &Source, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the report directory", out.display()))?;
    write_file(out, SOURCE_FILE, &serde_json::to_string_pretty(source)?)
}

/// Removes `source.json` from `out`, before an evaluation without a learned policy
/// (`cluster-rl baselines`) writes its reports there: a `source.json` left by an earlier
/// `cluster-rl eval` would make `summary` attribute the baselines' results to that training run.
///
/// # Errors
/// If the file exists and cannot be removed.
pub fn remove_source(out: &Path) -> Result<()> {
    let path = out.join(SOURCE_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => durable::sync_dir(out).with_context(|| format!("{}: cannot sync", out.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot remove the stale source", path.display())),
    }
}

/// One row per policy: mean JCT with its CI, the summary metrics, the paired difference.
pub fn csv(report: &EvalReport) -> String {
    let mut s = String::from("policy,mean_jct,mean_jct_ci95");
    for (m, _) in COLUMNS {
        let _ = write!(s, ",{m}");
    }
    s.push_str(",diff_mean_jct,diff_mean_jct_ci95,diff_mean_jct_pct,diff_significant\n");
    for p in &report.policies {
        let jct = p.metric("mean_jct").map(|m| m.value);
        let _ = write!(s, "{},{},{}", p.name, jct.map_or(f64::NAN, |e| e.mean), jct.map_or(f64::NAN, |e| e.ci95));
        for (m, _) in COLUMNS {
            let _ = write!(s, ",{}", value(p, m));
        }
        match diff(report, p) {
            Some((d, ci, pct, sig)) => {
                let _ = writeln!(s, ",{d},{ci},{pct},{sig}");
            }
            None => s.push_str(",,,,\n"),
        }
    }
    s
}

/// A Markdown table like the printed one.
pub fn markdown(report: &EvalReport) -> String {
    let reference = report.reference.as_deref().unwrap_or("-");
    let mut s = format!(
        "# Evaluation: {}\n\n{} held-out seeds ({}..={}), paired by seed; ± is the 95% CI.\n\n",
        report.scenario,
        report.seeds.len(),
        report.seeds.first().copied().unwrap_or(0),
        report.seeds.last().copied().unwrap_or(0)
    );
    s.push_str("| policy | mean JCT ± 95% CI |");
    for (_, h) in COLUMNS {
        let _ = write!(s, " {h} |");
    }
    let _ = writeln!(s, " Δ mean JCT vs {reference} |");
    s.push_str("|---|---|");
    s.push_str(&"---|".repeat(COLUMNS.len() + 1));
    s.push('\n');
    for p in &report.policies {
        let jct = p.metric("mean_jct").map(|m| m.value);
        let _ = write!(
            s,
            "| {} | {:.1} ± {:.1} |",
            p.name,
            jct.map_or(f64::NAN, |e| e.mean),
            jct.map_or(f64::NAN, |e| e.ci95)
        );
        for (m, _) in COLUMNS {
            let _ = write!(s, " {:.3} |", value(p, m));
        }
        match diff(report, p) {
            Some((d, ci, pct, sig)) => {
                let _ = writeln!(s, " {d:+.1} ± {ci:.1} ({pct:+.1}%){} |", if sig { "" } else { " n.s." });
            }
            None => s.push_str(" — |\n"),
        }
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart of mean JCT per policy with 95% CI whiskers.
pub fn svg(report: &EvalReport) -> String {
    let rows: Vec<(&str, f64, f64)> = report
        .policies
        .iter()
        .map(|p| {
            let e = p.metric("mean_jct").map(|m| m.value);
            (p.name.as_str(), e.map_or(0.0, |e| e.mean), e.map_or(0.0, |e| e.ci95))
        })
        .collect();
    let max = rows.iter().map(|(_, m, c)| m + c).filter(|x| x.is_finite()).fold(0.0f64, f64::max).max(1e-9);
    let (label_w, bar_w, row_h, top) = (190.0, 520.0, 26.0, 40.0);
    let height = top + row_h * rows.len() as f64 + 20.0;
    let width = label_w + bar_w + 120.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"10\" y=\"22\" font-size=\"14\">{}: mean JCT ± 95% CI over {} seeds (lower is better)</text>\n",
        escape(&report.scenario),
        report.seeds.len()
    );
    for (i, (name, mean, ci)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let w = (mean / max * bar_w).max(0.0);
        let fill = if Some(*name) == report.reference.as_deref() { "#888888" } else { "#4878d0" };
        let (lo, hi) = (((mean - ci) / max * bar_w).max(0.0), (mean + ci) / max * bar_w);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{label_w}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\"/>\n\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
             <text x=\"{:.1}\" y=\"{}\">{mean:.1}</text>",
            label_w - 6.0,
            y + 16.0,
            escape(name),
            y + 4.0,
            row_h - 8.0,
            label_w + lo,
            label_w + hi,
            y + row_h / 2.0,
            y + row_h / 2.0,
            label_w + hi.max(w) + 6.0,
            y + 16.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_env::{SchedulerSpec, evaluate, scenarios};

    #[test]
    fn reports_have_one_row_per_policy() {
        let cfg = scenarios::seed_case();
        let specs: Vec<SchedulerSpec> =
            ["least-loaded", "random"].iter().map(|n| SchedulerSpec::baseline(n).unwrap()).collect();
        let report = evaluate(&cfg, &specs, &[1, 2, 3], Some("least-loaded")).unwrap();
        let csv = csv(&report);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.lines().nth(2).unwrap().starts_with("random,"));
        assert!(csv.lines().nth(1).unwrap().ends_with(",,,,"));
        let md = markdown(&report);
        assert!(md.contains("| random |") && md.contains("Δ mean JCT vs least-loaded"));
        let svg = svg(&report);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
