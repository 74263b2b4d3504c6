//! `cluster-rl sweep report DIR [--out D]`: how each configuration's learned policy does on the
//! held-out seeds, over its training seeds, with the statistics of "Deep RL at the Edge of the
//! Statistical Precipice" (the `sweep-stats` crate).
//!
//! The score of a run is the mean JCT of its best checkpoint on the held-out seeds
//! (`runs/<id>/eval/report.json`, policy `dqn`). Per configuration, over its finished runs:
//! - mean, median and IQM of the scores over runs, each with a 95% stratified-bootstrap CI
//!   (one set of replicates for the three);
//! - the paired difference to least-loaded and to the best heuristic: per run, the policy's
//!   mean JCT minus the heuristic's on the same held-out seeds (the heuristic was evaluated in
//!   that run's own `eval`), then mean, median and IQM of those differences with CIs. The best
//!   heuristic is the one with the lowest mean JCT over the configuration's runs;
//! - the probability of improvement over the reference heuristic (`evaluation.reference`, or
//!   least-loaded): `P(score < reference score)`, ties ½, with its CI;
//! - a performance profile: the fraction of runs with mean JCT below τ, with pointwise CIs.
//!
//! Every bootstrap uses the fixed seed [`BOOTSTRAP_SEED`], so the same runs give the same report.
//! Outputs: `report.md`, `report.json`, `report.csv` (one row per configuration), `seeds.csv`
//! (one row per run), `iqm.svg` and `profile.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cluster_env::EvalReport;
use serde::Serialize;
use sweep_stats::{
    BootstrapConfig, Direction, Interval, PerformanceProfile, ProfileKind, ScoreMatrix, bootstrap_intervals, iqm,
    linspace, mean, performance_profile_intervals, probability_of_improvement_interval,
};

use super::plan::{Growth, Plan, write_file};
use super::state::{RunState, Status};

/// Seed of every bootstrap of a report.
pub const BOOTSTRAP_SEED: u64 = 2021;
/// Bootstrap replicates of the aggregate and probability-of-improvement intervals (rliable's
/// default for interval estimates).
pub const BOOTSTRAP_REPS: usize = 50_000;
/// Bootstrap replicates of the performance profile's pointwise intervals (rliable's default).
pub const PROFILE_REPS: usize = 2_000;
/// Thresholds τ of the performance profile.
pub const PROFILE_POINTS: usize = 101;
/// The learned policy's name in the runs' evaluation reports.
const LEARNED: &str = "dqn";
/// The heuristic every paired difference is also taken against.
const LEAST_LOADED: &str = "least-loaded";

/// Mean, median and IQM with their 95% intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aggregate {
    /// Mean over runs.
    pub mean: Interval,
    /// Median over runs (numpy's: the mean of the middle two for an even count).
    pub median: Interval,
    /// Interquartile mean over runs.
    pub iqm: Interval,
}

/// One finished run's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedRow {
    /// Run id.
    pub run: String,
    /// Training seed.
    pub seed: u64,
    /// The learned policy's held-out mean JCT.
    pub mean_jct: f64,
    /// Least-loaded's held-out mean JCT (same seeds), if evaluated.
    pub least_loaded: Option<f64>,
    /// The configuration's best heuristic's held-out mean JCT in this run.
    pub best_heuristic: Option<f64>,
    /// The reference heuristic's held-out mean JCT in this run.
    pub reference: Option<f64>,
    /// `mean_jct − least_loaded`.
    pub diff_vs_least_loaded: Option<f64>,
    /// `mean_jct − best_heuristic`.
    pub diff_vs_best_heuristic: Option<f64>,
}

/// One configuration's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigurationReport {
    /// `c<i>`.
    pub id: String,
    /// Its `--set` values.
    pub sets: Vec<String>,
    /// Runs planned.
    pub runs: usize,
    /// Runs without a result yet (not done, or no eval/report.json), by id.
    pub missing: Vec<String>,
    /// The finished runs, in seed order of the sweep file.
    pub seeds: Vec<SeedRow>,
    /// The learned policy's held-out mean JCT over training seeds.
    pub mean_jct: Option<Aggregate>,
    /// Least-loaded's held-out mean JCT (mean over the runs' evaluations).
    pub least_loaded: Option<f64>,
    /// The heuristic with the lowest held-out mean JCT, and that mean.
    pub best_heuristic: Option<(String, f64)>,
    /// The reference heuristic of the probability of improvement, and its mean JCT.
    pub reference: Option<(String, f64)>,
    /// Paired difference to least-loaded (negative: the learned policy is better).
    pub diff_vs_least_loaded: Option<Aggregate>,
    /// Paired difference to the best heuristic.
    pub diff_vs_best_heuristic: Option<Aggregate>,
    /// `P(learned mean JCT < reference mean JCT)` over runs, ties ½.
    pub probability_of_improvement: Option<Interval>,
    /// Fraction of runs with mean JCT below τ.
    pub profile: Option<PerformanceProfile>,
}

/// How the intervals were computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapSettings {
    /// Replicates of the aggregate and improvement intervals.
    pub reps: usize,
    /// Replicates of the profile's intervals.
    pub profile_reps: usize,
    /// The resampler's seed.
    pub seed: u64,
    /// Coverage of every interval.
    pub confidence: f64,
    /// Stratified bootstrap, percentile intervals (rliable's defaults).
    pub method: String,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// `cluster-rl-sweep-report`.
    pub format: String,
    /// The sweep's name.
    pub sweep: String,
    /// The score: held-out mean JCT of each run's best checkpoint; lower is better.
    pub score: String,
    /// Bootstrap settings.
    pub bootstrap: BootstrapSettings,
    /// One entry per configuration.
    pub configurations: Vec<ConfigurationReport>,
    /// Every time the sweep gained seeds after it was first planned (empty: never).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grown: Vec<Growth>,
}

fn mean_jct(report: &EvalReport, policy: &str) -> Option<f64> {
    report.policies.iter().find(|p| p.name == policy)?.metric("mean_jct").map(|m| m.value.mean)
}

/// The median of `values` (the mean of the middle two for an even count, as numpy's).
fn median_of(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Mean, median and IQM over runs, from one set of stratified bootstrap replicates.
///
/// The scores are one task (the held-out evaluation), so the median is taken over the runs
/// here: rliable's `aggregate_median` is the median over tasks of per-task means, which for a
/// single task is just the mean.
fn aggregate(values: &[f64], config: &BootstrapConfig) -> Result<Aggregate> {
    let m = ScoreMatrix::from_runs(values)?;
    let i = bootstrap_intervals(&[&m], config, |s| {
        vec![mean(&s[0]), median_of(s[0].task(0).unwrap_or_default()), iqm(&s[0])]
    })?;
    Ok(Aggregate { mean: i[0], median: i[1], iqm: i[2] })
}

/// A finished run's evaluation.
struct Finished {
    run: String,
    seed: u64,
    report: EvalReport,
}

/// Collects a configuration's finished runs, then computes its statistics (profile later).
fn configuration_report(dir: &Path, plan: &Plan, ci: usize, config: &BootstrapConfig) -> Result<ConfigurationReport> {
    let c = &plan.configurations[ci];
    let mut finished = Vec::new();
    let mut missing = Vec::new();
    let runs: Vec<_> = plan.runs.iter().filter(|r| r.configuration == ci).collect();
    for run in &runs {
        let run_dir = Plan::run_dir(dir, run);
        let path = run_dir.join("eval/report.json");
        let done = RunState::load(&run_dir).is_ok_and(|s| s.status == Status::Done);
        if !done || !path.is_file() {
            missing.push(run.id.clone());
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        let report: EvalReport =
            serde_json::from_slice(&bytes).with_context(|| format!("{}: not an evaluation report", path.display()))?;
        if mean_jct(&report, LEARNED).is_none() {
            bail!("{}: no mean_jct of policy {LEARNED}", path.display());
        }
        finished.push(Finished { run: run.id.clone(), seed: run.seed, report });
    }
    let mut out = ConfigurationReport {
        id: c.id.clone(),
        sets: c.sets.clone(),
        runs: runs.len(),
        missing,
        seeds: Vec::new(),
        mean_jct: None,
        least_loaded: None,
        best_heuristic: None,
        reference: None,
        diff_vs_least_loaded: None,
        diff_vs_best_heuristic: None,
        probability_of_improvement: None,
        profile: None,
    };
    if finished.is_empty() {
        return Ok(out);
    }

    // Heuristics evaluated in every finished run, with their mean over runs.
    let mut heuristics: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in &finished[0].report.policies {
        if p.name != LEARNED {
            heuristics.insert(&p.name, Vec::new());
        }
    }
    for f in &finished {
        heuristics.retain(|name, values| match mean_jct(&f.report, name) {
            Some(v) => {
                values.push(v);
                true
            }
            None => false,
        });
    }
    let over_runs = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let best = heuristics
        .iter()
        .map(|(name, v)| (name.to_string(), over_runs(v)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let reference_name = finished[0]
        .report
        .reference
        .clone()
        .filter(|r| r != LEARNED && heuristics.contains_key(r.as_str()))
        .or_else(|| heuristics.contains_key(LEAST_LOADED).then(|| LEAST_LOADED.to_string()))
        .or_else(|| best.as_ref().map(|b| b.0.clone()));

    for f in &finished {
        let score = mean_jct(&f.report, LEARNED).unwrap_or(f64::NAN);
        let ll = mean_jct(&f.report, LEAST_LOADED);
        let bh = best.as_ref().and_then(|(name, _)| mean_jct(&f.report, name));
        out.seeds.push(SeedRow {
            run: f.run.clone(),
            seed: f.seed,
            mean_jct: score,
            least_loaded: ll,
            best_heuristic: bh,
            reference: reference_name.as_deref().and_then(|r| mean_jct(&f.report, r)),
            diff_vs_least_loaded: ll.map(|v| score - v),
            diff_vs_best_heuristic: bh.map(|v| score - v),
        });
    }
    let scores: Vec<f64> = out.seeds.iter().map(|s| s.mean_jct).collect();
    let context = |what: &str| format!("configuration {}: {what}", c.id);
    out.mean_jct = Some(aggregate(&scores, config).with_context(|| context("mean JCT"))?);
    out.least_loaded = heuristics.get(LEAST_LOADED).map(|v| over_runs(v));
    let diffs = |f: fn(&SeedRow) -> Option<f64>| out.seeds.iter().map(f).collect::<Option<Vec<f64>>>();
    if let Some(d) = diffs(|s| s.diff_vs_least_loaded) {
        out.diff_vs_least_loaded = Some(aggregate(&d, config).with_context(|| context("difference to least-loaded"))?);
    }
    if let Some(d) = diffs(|s| s.diff_vs_best_heuristic) {
        out.diff_vs_best_heuristic =
            Some(aggregate(&d, config).with_context(|| context("difference to the best heuristic"))?);
    }
    if let (Some(name), Some(r)) = (&reference_name, diffs(|s| s.reference)) {
        let x = ScoreMatrix::from_runs(&scores)?;
        let y = ScoreMatrix::from_runs(&r)?;
        out.probability_of_improvement = Some(
            probability_of_improvement_interval(&x, &y, Direction::LowerIsBetter, config)
                .with_context(|| context("probability of improvement"))?,
        );
        out.reference = Some((name.clone(), over_runs(&r)));
    }
    out.best_heuristic = best;
    Ok(out)
}

/// Builds the whole report of the sweep in `dir`.
///
/// # Errors
/// No finished run, an unreadable evaluation, or invalid scores.
pub fn build(dir: &Path, plan: &Plan) -> Result<SweepReport> {
    let config = BootstrapConfig::new(BOOTSTRAP_REPS, BOOTSTRAP_SEED);
    let mut configurations = (0..plan.configurations.len())
        .map(|ci| configuration_report(dir, plan, ci, &config))
        .collect::<Result<Vec<_>>>()?;
    if configurations.iter().all(|c| c.seeds.is_empty()) {
        bail!(
            "sweep {}: no run is done yet, nothing to report (see `cluster-rl sweep status {}`)",
            plan.name,
            dir.display()
        );
    }
    // One τ grid for every configuration, spanning every score and the heuristics.
    let mut all: Vec<f64> = configurations.iter().flat_map(|c| c.seeds.iter().map(|s| s.mean_jct)).collect();
    all.extend(
        configurations.iter().flat_map(|c| c.least_loaded.into_iter().chain(c.best_heuristic.as_ref().map(|b| b.1))),
    );
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
    // (Completion times are not negative: neither is the grid.)
    let start = if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad };
    let taus = linspace(start, hi + pad, PROFILE_POINTS)?;
    let profile_config = BootstrapConfig::new(PROFILE_REPS, BOOTSTRAP_SEED);
    for c in &mut configurations {
        if c.seeds.is_empty() {
            continue;
        }
        let scores: Vec<f64> = c.seeds.iter().map(|s| s.mean_jct).collect();
        let m = ScoreMatrix::from_runs(&scores)?;
        c.profile = Some(
            performance_profile_intervals(&m, &taus, Direction::LowerIsBetter, ProfileKind::RunScores, &profile_config)
                .with_context(|| format!("configuration {}: performance profile", c.id))?,
        );
    }
    Ok(SweepReport {
        format: "cluster-rl-sweep-report".into(),
        sweep: plan.name.clone(),
        score: "held-out mean JCT of each run's best checkpoint (lower is better)".into(),
        bootstrap: BootstrapSettings {
            reps: BOOTSTRAP_REPS,
            profile_reps: PROFILE_REPS,
            seed: BOOTSTRAP_SEED,
            confidence: config.confidence,
            method: "stratified bootstrap over training seeds, percentile intervals".into(),
        },
        configurations,
        grown: plan.grown.clone(),
    })
}

fn ci(i: &Interval) -> String {
    format!("{:.1} [{:.1}, {:.1}]", i.estimate, i.low, i.high)
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.1}"))
}

fn csv_opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

fn settings(c: &ConfigurationReport) -> String {
    if c.sets.is_empty() { "(base)".to_string() } else { c.sets.join(", ") }
}

/// The Markdown report.
pub fn markdown(r: &SweepReport) -> String {
    let mut s = format!(
        "# Sweep {}\n\nScore: {}. Over training seeds: mean, median and IQM with 95% stratified-bootstrap \
         CIs ({} replicates, seed {}). Δ: paired by run, the learned policy's mean JCT minus the heuristic's on \
         the same held-out seeds (negative: the learned policy is better). P(better): probability that a run's \
         mean JCT is below the reference heuristic's, with its CI.\n\n",
        r.sweep, r.score, r.bootstrap.reps, r.bootstrap.seed
    );
    s.push_str(
        "| configuration | settings | runs | IQM | mean | median | least-loaded | Δ vs least-loaded (IQM) | \
         best heuristic | Δ vs best (IQM) | P(better than reference) |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in &r.configurations {
        let _ = write!(s, "| {} | {} | {}/{} |", c.id, settings(c), c.seeds.len(), c.runs);
        match &c.mean_jct {
            Some(a) => {
                let _ = write!(s, " {} | {} | {} |", ci(&a.iqm), ci(&a.mean), ci(&a.median));
            }
            None => s.push_str(" — | — | — |"),
        }
        let _ = write!(s, " {} |", opt(c.least_loaded));
        let _ = write!(s, " {} |", c.diff_vs_least_loaded.map_or_else(|| "—".into(), |d| ci(&d.iqm)));
        let _ =
            write!(s, " {} |", c.best_heuristic.as_ref().map_or_else(|| "—".into(), |(n, v)| format!("{n} {v:.1}")));
        let _ = write!(s, " {} |", c.diff_vs_best_heuristic.map_or_else(|| "—".into(), |d| ci(&d.iqm)));
        let _ = writeln!(
            s,
            " {} |",
            match (&c.probability_of_improvement, &c.reference) {
                (Some(p), Some((name, _))) => format!("{:.2} [{:.2}, {:.2}] vs {name}", p.estimate, p.low, p.high),
                _ => "—".into(),
            }
        );
    }
    s.push_str("\n## Per seed\n\n| configuration | run | seed | mean JCT | least-loaded | best heuristic | Δ vs least-loaded | Δ vs best |\n|---|---|---|---|---|---|---|---|\n");
    for c in &r.configurations {
        for row in &c.seeds {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} |",
                c.id,
                row.run,
                row.seed,
                row.mean_jct,
                opt(row.least_loaded),
                opt(row.best_heuristic),
                opt(row.diff_vs_least_loaded),
                opt(row.diff_vs_best_heuristic)
            );
        }
    }
    let missing: Vec<&str> = r.configurations.iter().flat_map(|c| c.missing.iter().map(String::as_str)).collect();
    if !missing.is_empty() {
        let _ = writeln!(s, "\nNot finished, left out: {}.", missing.join(", "));
    }
    s.push_str(&growth_caveat(&r.grown));
    s
}

/// The Markdown paragraph on how the sweep grew ("" if it never did, or only before any run
/// was done). Seeds added after results were seen are optional stopping, which biases the
/// intervals above towards the result that was hoped for: a reader must be told.
fn growth_caveat(grown: &[Growth]) -> String {
    let seen: Vec<&Growth> = grown.iter().filter(|g| g.runs_done > 0).collect();
    if seen.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n**Optional stopping.** This sweep grew after runs had finished:");
    for g in seen {
        let _ = write!(
            s,
            " seeds {:?} were added to {:?} when {} {} done;",
            g.seeds_added,
            g.seeds_before,
            g.runs_done,
            if g.runs_done == 1 { "run was" } else { "runs were" }
        );
    }
    s.pop();
    s.push_str(
        ". If the decision to add seeds depended on what those runs showed, the intervals above are \
         optimistic; the report over the first seeds alone is the one planned in advance.\n",
    );
    s
}

/// `report.csv`: one row per configuration.
pub fn csv(r: &SweepReport) -> String {
    let mut s = String::from(
        "configuration,settings,runs_done,runs,iqm,iqm_low,iqm_high,mean,mean_low,mean_high,median,median_low,median_high,\
         least_loaded,diff_ll_iqm,diff_ll_iqm_low,diff_ll_iqm_high,diff_ll_mean,diff_ll_mean_low,diff_ll_mean_high,\
         best_heuristic,best_heuristic_mean_jct,diff_best_iqm,diff_best_iqm_low,diff_best_iqm_high,diff_best_mean,\
         diff_best_mean_low,diff_best_mean_high,reference,p_improvement,p_improvement_low,p_improvement_high\n",
    );
    let triple = |i: Option<Interval>| match i {
        Some(i) => format!("{},{},{}", i.estimate, i.low, i.high),
        None => ",,".into(),
    };
    for c in &r.configurations {
        let _ = writeln!(
            s,
            "{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.id,
            settings(c).replace('"', "\"\""),
            c.seeds.len(),
            c.runs,
            triple(c.mean_jct.map(|a| a.iqm)),
            triple(c.mean_jct.map(|a| a.mean)),
            triple(c.mean_jct.map(|a| a.median)),
            csv_opt(c.least_loaded),
            triple(c.diff_vs_least_loaded.map(|a| a.iqm)),
            triple(c.diff_vs_least_loaded.map(|a| a.mean)),
            c.best_heuristic.as_ref().map_or("", |b| b.0.as_str()),
            csv_opt(c.best_heuristic.as_ref().map(|b| b.1)),
            triple(c.diff_vs_best_heuristic.map(|a| a.iqm)),
            triple(c.diff_vs_best_heuristic.map(|a| a.mean)),
            c.reference.as_ref().map_or("", |b| b.0.as_str()),
            triple(c.probability_of_improvement),
        );
    }
    s
}

/// `seeds.csv`: one row per finished run.
pub fn seeds_csv(r: &SweepReport) -> String {
    let mut s = String::from(
        "configuration,run,seed,mean_jct,least_loaded,best_heuristic,reference,diff_vs_least_loaded,diff_vs_best_heuristic\n",
    );
    for c in &r.configurations {
        for row in &c.seeds {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{}",
                c.id,
                row.run,
                row.seed,
                row.mean_jct,
                csv_opt(row.least_loaded),
                csv_opt(row.best_heuristic),
                csv_opt(row.reference),
                csv_opt(row.diff_vs_least_loaded),
                csv_opt(row.diff_vs_best_heuristic)
            );
        }
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Colours of the configurations in the figures (cycled).
const COLOURS: [&str; 8] = ["#4878d0", "#ee854a", "#6acc64", "#d65f5f", "#956cb4", "#8c613c", "#dc7ec0", "#797979"];

/// `iqm.svg`: per configuration, the IQM with its CI, the runs' scores as dots, least-loaded
/// (grey) and the best heuristic (orange) as ticks.
pub fn iqm_svg(r: &SweepReport) -> String {
    let rows: Vec<(&ConfigurationReport, Interval)> =
        r.configurations.iter().filter_map(|c| c.mean_jct.map(|a| (c, a.iqm))).collect();
    let mut values: Vec<f64> = Vec::new();
    for (c, iqm) in &rows {
        values.extend([iqm.low, iqm.high]);
        values.extend(c.seeds.iter().map(|s| s.mean_jct));
        values.extend(c.least_loaded);
        values.extend(c.best_heuristic.as_ref().map(|b| b.1));
    }
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.08).max(1e-9);
    let (lo, hi) = (if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad }, hi + pad);
    let (label_w, plot_w, row_h, top) = (220.0, 520.0, 34.0, 50.0);
    let x = |v: f64| label_w + (v - lo) / (hi - lo) * plot_w;
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">{}: IQM of held-out mean JCT over training seeds, 95% CI (lower is better)</text>\n\
         <text x=\"10\" y=\"38\" fill=\"#555\">dots: runs; grey tick: least-loaded; orange tick: best heuristic</text>\n",
        label_w + plot_w + 40.0,
        escape(&r.sweep)
    );
    for (k, (c, iqm)) in rows.iter().enumerate() {
        let y = top + row_h * k as f64 + row_h / 2.0;
        let colour = COLOURS[k % COLOURS.len()];
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ({} runs)</text>\n\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"3\"/>\n\
             <circle cx=\"{:.1}\" cy=\"{y}\" r=\"5\" fill=\"{colour}\"/>\n\
             <text x=\"{:.1}\" y=\"{}\" fill=\"#333\">{:.1}</text>",
            label_w - 8.0,
            y + 4.0,
            escape(&c.id),
            c.seeds.len(),
            x(iqm.low),
            x(iqm.high),
            x(iqm.estimate),
            x(iqm.estimate) - 12.0,
            y - 8.0,
            iqm.estimate
        );
        for row in &c.seeds {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{}\" r=\"2.5\" fill=\"black\" opacity=\"0.6\"/>",
                x(row.mean_jct),
                y + 9.0
            );
        }
        for (v, tick) in [(c.least_loaded, "#888888"), (c.best_heuristic.as_ref().map(|b| b.1), "#ee8800")] {
            if let Some(v) = v {
                let _ = writeln!(
                    s,
                    "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"{tick}\" stroke-width=\"2\"/>",
                    x(v),
                    y - 12.0,
                    y + 12.0
                );
            }
        }
    }
    let axis_y = top + row_h * rows.len() as f64 + 10.0;
    let _ = writeln!(
        s,
        "<line x1=\"{label_w}\" x2=\"{}\" y1=\"{axis_y}\" y2=\"{axis_y}\" stroke=\"black\"/>",
        label_w + plot_w
    );
    for t in 0..=4 {
        let v = lo + (hi - lo) * f64::from(t) / 4.0;
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{v:.0}</text>", x(v), axis_y + 16.0);
    }
    s.push_str("</svg>\n");
    s
}

/// `profile.svg`: per configuration, the fraction of runs with mean JCT below τ, with its CI
/// band; dashed lines at least-loaded's mean JCT.
pub fn profile_svg(r: &SweepReport) -> String {
    let rows: Vec<(usize, &ConfigurationReport, &PerformanceProfile)> =
        r.configurations.iter().enumerate().filter_map(|(k, c)| c.profile.as_ref().map(|p| (k, c, p))).collect();
    let taus = rows.first().map(|r| r.2.taus.clone()).unwrap_or_default();
    let (lo, hi) = (taus.first().copied().unwrap_or(0.0), taus.last().copied().unwrap_or(1.0));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (left, top, w, h) = (60.0, 40.0, 560.0, 300.0);
    let x = |v: f64| left + (v - lo) / span * w;
    let y = |f: f64| top + (1.0 - f) * h;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">{}: performance profile, fraction of runs with held-out mean JCT &lt; τ (95% CI)</text>\n\
         <rect x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"black\"/>\n",
        left + w + 200.0,
        top + h + 50.0,
        escape(&r.sweep)
    );
    for &(k, c, p) in &rows {
        let colour = COLOURS[k % COLOURS.len()];
        let upper: Vec<String> =
            p.taus.iter().zip(&p.fractions).map(|(&t, f)| format!("{:.1},{:.1}", x(t), y(f.high))).collect();
        let lower: Vec<String> =
            p.taus.iter().zip(&p.fractions).rev().map(|(&t, f)| format!("{:.1},{:.1}", x(t), y(f.low))).collect();
        let line: Vec<String> =
            p.taus.iter().zip(&p.fractions).map(|(&t, f)| format!("{:.1},{:.1}", x(t), y(f.estimate))).collect();
        let _ = writeln!(
            s,
            "<polygon points=\"{} {}\" fill=\"{colour}\" opacity=\"0.2\"/>\n<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            upper.join(" "),
            lower.join(" "),
            line.join(" ")
        );
        let ly = top + 16.0 * k as f64 + 10.0;
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" x2=\"{1}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{2}\" y=\"{3}\">{4}</text>",
            left + w + 10.0,
            left + w + 30.0,
            left + w + 36.0,
            ly + 4.0,
            escape(&c.id)
        );
    }
    let mut lines: Vec<f64> = rows.iter().filter_map(|r| r.1.least_loaded).collect();
    lines.sort_by(f64::total_cmp);
    lines.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs().max(1.0));
    for v in lines {
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{top}\" y2=\"{1}\" stroke=\"#888\" stroke-dasharray=\"5,4\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" fill=\"#555\" text-anchor=\"middle\">least-loaded</text>",
            x(v),
            top + h,
            top - 4.0
        );
    }
    for t in 0..=4 {
        let v = lo + span * f64::from(t) / 4.0;
        let f = f64::from(t) / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{v:.0}</text><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{f:.2}</text>",
            x(v),
            top + h + 16.0,
            left - 6.0,
            y(f) + 4.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">τ (mean JCT)</text>",
        left + w / 2.0,
        top + h + 36.0
    );
    s.push_str("</svg>\n");
    s
}

/// `cluster-rl sweep report`.
///
/// # Errors
/// A directory without a sweep, no finished run, unreadable evaluations, or I/O failures.
pub fn run(dir: &Path, out: Option<&Path>) -> Result<ExitCode> {
    let plan = Plan::load(dir)?;
    let report = build(dir, &plan)?;
    let out: PathBuf = out.map_or_else(|| dir.join("report"), Path::to_path_buf);
    std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create", out.display()))?;
    let md = markdown(&report);
    write_file(&out.join("report.md"), md.as_bytes())?;
    write_file(&out.join("report.json"), (serde_json::to_string_pretty(&report)? + "\n").as_bytes())?;
    write_file(&out.join("report.csv"), csv(&report).as_bytes())?;
    write_file(&out.join("seeds.csv"), seeds_csv(&report).as_bytes())?;
    write_file(&out.join("iqm.svg"), iqm_svg(&report).as_bytes())?;
    write_file(&out.join("profile.svg"), profile_svg(&report).as_bytes())?;
    print!("{md}");
    let missing: usize = report.configurations.iter().map(|c| c.missing.len()).sum();
    if missing > 0 {
        eprintln!("cluster-rl: warning: {missing} runs are not finished and were left out");
    }
    println!("wrote {}/{{report.md,report.json,report.csv,seeds.csv,iqm.svg,profile.svg}}", out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_over_runs() {
        assert_eq!(median_of(&[3.0, 1.0, 10.0]), 3.0);
        assert_eq!(median_of(&[4.0, 1.0, 10.0, 2.0]), 3.0);
        let a = aggregate(&[1.0, 2.0, 10.0, 3.0, 4.0], &BootstrapConfig::new(2000, BOOTSTRAP_SEED)).unwrap();
        assert_eq!(a.mean.estimate, 4.0);
        assert_eq!(a.median.estimate, 3.0);
        // IQM of 5 scores: drop floor(5/4) = 1 from each end, the mean of 2, 3, 4.
        assert_eq!(a.iqm.estimate, 3.0);
        for i in [a.mean, a.median, a.iqm] {
            assert!(i.low <= i.estimate && i.estimate <= i.high && i.low >= 1.0 && i.high <= 10.0, "{i:?}");
        }
        // Same scores, same seed: the same intervals.
        assert_eq!(aggregate(&[1.0, 2.0, 10.0, 3.0, 4.0], &BootstrapConfig::new(2000, BOOTSTRAP_SEED)).unwrap(), a);
    }

    #[test]
    fn growth_after_results_is_flagged_as_optional_stopping() {
        assert_eq!(growth_caveat(&[]), "");
        // Seeds added before any run finished: nothing was seen, nothing to flag.
        let early = Growth { seeds_before: vec![1, 2], seeds_added: vec![3], runs_done: 0 };
        assert_eq!(growth_caveat(std::slice::from_ref(&early)), "");
        let late = Growth { seeds_before: vec![1, 2, 3], seeds_added: vec![4, 5], runs_done: 1 };
        let text = growth_caveat(&[early, late]);
        assert!(text.contains("seeds [4, 5] were added to [1, 2, 3] when 1 run was done."), "{text}");
        assert!(text.contains("**Optional stopping.**") && !text.contains("[3] were added"), "{text}");
    }
}
