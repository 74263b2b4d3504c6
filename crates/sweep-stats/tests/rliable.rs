//! sweep-stats against the real `rliable` (the reference implementation of Agarwal et al., 2021).
//!
//! One Python process (`tests/rliable_check.py`) evaluates every case; three tests read its
//! answers:
//! - `point_estimates_match_rliable`: mean, median, IQM, optimality gap (both directions),
//!   probability of improvement (both directions) and both kinds of performance profile on 120
//!   random score matrices (1 to 150 runs, 1 to 5 tasks, continuous scores from 1e-3 to 1e4 in
//!   scale, heavy ties, thresholds on data points) agree to 1e-12 (relative to max(1, |value|)).
//! - `intervals_on_shared_resamples_match_rliable`: rliable is fed the very resampling indices
//!   our `Resampler` drew (its `np.random.choice` replaced), so its whole bootstrap pipeline
//!   (`StratifiedBootstrap`, `StratifiedIndependentBootstrap`, arch's `conf_int`,
//!   `np.percentile`) must give our intervals to 1e-12: percentile and basic methods, one and
//!   several tasks, both directions.
//! - `intervals_with_independent_streams_agree_within_monte_carlo_error`: rliable draws its own
//!   resamples (numpy's global stream, `np.random.seed`), we draw ours (ChaCha8); each interval
//!   end must lie within the Monte Carlo error of a bootstrap percentile (see `check_band`).
//!
//! Needs a Python with rliable: `$CLUSTER_RL_PYTHON`, else the workspace's `.venv`, else
//! `python3`. Without one the tests fail, naming what to install (see `PINS`).
//! `cargo test -p sweep-stats --test rliable -- --nocapture` prints the largest differences.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sweep_stats::{
    BootstrapConfig, Direction, IntervalMethod, OptimalityGap, ProfileKind, Resampler, ScoreMatrix,
    aggregate_intervals, bootstrap_intervals, bootstrap_replicates, iqm, linspace, mean, median, optimality_gap,
    performance_profile, performance_profile_intervals, probability_of_improvement,
    probability_of_improvement_interval,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rliable_check.py");

/// The Python packages these tests were written against (arch 7.2 does not import with pandas 3).
const PINS: &str = "rliable==1.2.0 arch==7.2.0 pandas==2.3.3 numpy==2.4.6 scipy==1.17.1";

/// Point estimates and intervals on shared resamples: same formulas, same order of operations
/// up to numpy's partition order inside `trim_mean`, so a few ulps at most.
const TOL: f64 = 1e-12;

/// Standard deviations of Monte Carlo error allowed in `check_band` (two-sided 5.7e-7 each).
const Z: f64 = 5.0;

fn python() -> (PathBuf, &'static str) {
    if let Some(p) = std::env::var_os("CLUSTER_RL_PYTHON") {
        return (PathBuf::from(p), "$CLUSTER_RL_PYTHON");
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return (venv, "the workspace .venv");
    }
    (PathBuf::from("python3"), "python3 on PATH")
}

// ---------------------------------------------------------------------------------------------
// Cases

/// What a bootstrap case computes.
enum Boot {
    /// `stats`: a selection of "mean", "median", "iqm", "gap", in that order.
    Aggregate {
        scores: ScoreMatrix,
        stats: &'static [&'static str],
        gap: OptimalityGap,
    },
    Poi {
        x: ScoreMatrix,
        y: ScoreMatrix,
        direction: Direction,
    },
    Profile {
        scores: ScoreMatrix,
        taus: Vec<f64>,
        direction: Direction,
        kind: ProfileKind,
    },
}

/// A bootstrap statistic, as `bootstrap_replicates` takes it.
type Statistic<'a> = Box<dyn Fn(&[ScoreMatrix]) -> Vec<f64> + 'a>;

enum Stream {
    /// Both sides use the resamples of `Resampler::new(seed)`.
    Shared { seed: u64 },
    /// rliable after `np.random.seed(numpy_seed)`; we use `rust_reps` replicates from `rust_seed`.
    Independent { numpy_seed: u32, rust_seed: u64, rust_reps: usize },
}

struct BootCase {
    name: &'static str,
    boot: Boot,
    reps: usize,
    method: IntervalMethod,
    stream: Stream,
}

const ALL: &[&str] = &["mean", "median", "iqm", "gap"];

fn sign(direction: Direction) -> f64 {
    match direction {
        Direction::HigherIsBetter => 1.0,
        Direction::LowerIsBetter => -1.0,
    }
}

impl Boot {
    fn matrices(&self) -> Vec<&ScoreMatrix> {
        match self {
            Boot::Aggregate { scores, .. } | Boot::Profile { scores, .. } => vec![scores],
            Boot::Poi { x, y, .. } => vec![x, y],
        }
    }

    fn statistic(&self) -> Statistic<'_> {
        match self {
            Boot::Aggregate { stats, gap, .. } => Box::new(move |s| {
                stats
                    .iter()
                    .map(|&name| match name {
                        "mean" => mean(&s[0]),
                        "median" => median(&s[0]),
                        "iqm" => iqm(&s[0]),
                        _ => optimality_gap(&s[0], *gap).unwrap(),
                    })
                    .collect()
            }),
            Boot::Poi { direction, .. } => {
                Box::new(move |s| vec![probability_of_improvement(&s[0], &s[1], *direction).unwrap()])
            }
            Boot::Profile { taus, direction, kind, .. } => {
                Box::new(move |s| performance_profile(&s[0], taus, *direction, *kind).unwrap())
            }
        }
    }

    /// Our intervals, through the crate's convenience functions where one fits.
    fn intervals(&self, config: &BootstrapConfig) -> Vec<sweep_stats::Interval> {
        match self {
            Boot::Aggregate { scores, stats, gap } if *stats == ALL => {
                let a = aggregate_intervals(scores, Some(*gap), config).unwrap();
                vec![a.mean, a.median, a.iqm, a.optimality_gap.unwrap()]
            }
            Boot::Aggregate { scores, .. } => bootstrap_intervals(&[scores], config, self.statistic()).unwrap(),
            Boot::Poi { x, y, direction } => {
                vec![probability_of_improvement_interval(x, y, *direction, config).unwrap()]
            }
            Boot::Profile { scores, taus, direction, kind } => {
                performance_profile_intervals(scores, taus, *direction, *kind, config).unwrap().fractions
            }
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Boot::Aggregate { scores, stats, gap } => json!({
                "kind": "aggregate", "scores": scores.to_rows(), "stats": stats,
                "gamma": gap.threshold, "gap_sign": sign(gap.direction),
            }),
            Boot::Poi { x, y, direction } => {
                json!({"kind": "poi", "x": x.to_rows(), "y": y.to_rows(), "sign": sign(*direction)})
            }
            Boot::Profile { scores, taus, direction, kind } => json!({
                "kind": "profile", "scores": scores.to_rows(), "taus": taus, "sign": sign(*direction),
                "run_scores": *kind == ProfileKind::RunScores,
            }),
        }
    }
}

impl BootCase {
    fn to_json(&self) -> Value {
        let mut v = self.boot.to_json();
        v["reps"] = json!(self.reps);
        v["method"] = json!(match self.method {
            IntervalMethod::Percentile => "percentile",
            IntervalMethod::Basic => "basic",
        });
        match self.stream {
            Stream::Shared { seed } => v["indices"] = json!(shared_indices(&self.boot.matrices(), self.reps, seed)),
            Stream::Independent { numpy_seed, .. } => v["seed"] = json!(numpy_seed),
        }
        v
    }
}

/// Every `np.random.choice` call rliable makes, in order, answered from our documented stream:
/// per replicate, per input matrix, a `[runs][tasks]` array of row indices.
fn shared_indices(matrices: &[&ScoreMatrix], reps: usize, seed: u64) -> Vec<Vec<Vec<usize>>> {
    let mut resampler = Resampler::new(seed);
    let mut idx = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..reps {
        for m in matrices {
            resampler.draw_indices(m.runs(), m.tasks(), &mut idx);
            calls.push((0..m.runs()).map(|r| (0..m.tasks()).map(|t| idx[t * m.runs() + r]).collect()).collect());
        }
    }
    calls
}

/// Two configurations' held-out mean JCT over 10 seeds (lower is better), one with an outlier.
fn jct(rng: &mut ChaCha8Rng, centre: f64) -> ScoreMatrix {
    let mut v: Vec<f64> = (0..10).map(|_| (centre + 30.0 * (rng.random::<f64>() - 0.5) * 2.0).round()).collect();
    v[3] += 80.0;
    ScoreMatrix::from_runs(&v).unwrap()
}

/// `runs × 3` scenarios of different scales with a per-run effect shared by the tasks, so that
/// resampling runs jointly (not stratified) would give visibly different intervals.
fn scenarios(rng: &mut ChaCha8Rng, runs: usize) -> ScoreMatrix {
    let effects: Vec<f64> = (0..runs).map(|_| rng.random::<f64>() - 0.5).collect();
    let rows: Vec<Vec<f64>> = effects
        .iter()
        .map(|e| {
            [100.0, 400.0, 1500.0]
                .iter()
                .map(|&base| base * (1.0 + 0.4 * e + 0.05 * (rng.random::<f64>() - 0.5)))
                .collect()
        })
        .collect();
    ScoreMatrix::from_rows(&rows).unwrap()
}

fn bootstrap_cases() -> Vec<BootCase> {
    let mut rng = ChaCha8Rng::seed_from_u64(2021);
    let a = jct(&mut rng, 180.0);
    let b = jct(&mut rng, 200.0);
    let multi = scenarios(&mut rng, 5);
    let multi_y = scenarios(&mut rng, 6);
    let ties: Vec<f64> = (0..12).map(|_| f64::from(rng.random_range(0..5u8))).collect();
    let ties = ScoreMatrix::from_runs(&ties).unwrap();
    let lower = Direction::LowerIsBetter;
    let higher = Direction::HigherIsBetter;
    let jct_gap = OptimalityGap { threshold: 185.0, direction: lower };
    let jct_taus = linspace(150.0, 290.0, 15).unwrap();
    let scenario_taus = vec![90.0, 100.0, 110.0, 380.0, 420.0, 1400.0, 1500.0, 1600.0];
    let percentile = IntervalMethod::Percentile;
    let (shared, independent) = (
        |seed| Stream::Shared { seed },
        |numpy_seed, rust_reps| Stream::Independent { numpy_seed, rust_seed: u64::from(numpy_seed) + 1000, rust_reps },
    );
    vec![
        BootCase {
            name: "aggregate, JCT, lower is better",
            boot: Boot::Aggregate { scores: a.clone(), stats: ALL, gap: jct_gap },
            reps: 400,
            method: percentile,
            stream: shared(1),
        },
        BootCase {
            name: "aggregate, 3 scenarios, basic",
            boot: Boot::Aggregate {
                scores: multi.clone(),
                stats: ALL,
                gap: OptimalityGap { threshold: 420.0, direction: higher },
            },
            reps: 300,
            method: IntervalMethod::Basic,
            stream: shared(2),
        },
        BootCase {
            name: "aggregate, integer ties",
            boot: Boot::Aggregate {
                scores: ties,
                stats: ALL,
                gap: OptimalityGap { threshold: 2.0, direction: higher },
            },
            reps: 300,
            method: percentile,
            stream: shared(3),
        },
        BootCase {
            name: "P(improvement), JCT, lower is better",
            boot: Boot::Poi { x: a.clone(), y: b.clone(), direction: lower },
            reps: 300,
            method: percentile,
            stream: shared(4),
        },
        BootCase {
            name: "P(improvement), 3 scenarios, 5 vs 6 runs",
            boot: Boot::Poi { x: multi.clone(), y: multi_y, direction: higher },
            reps: 100,
            method: percentile,
            stream: shared(5),
        },
        BootCase {
            name: "profile of run scores, JCT, lower is better",
            boot: Boot::Profile {
                scores: a.clone(),
                taus: jct_taus.clone(),
                direction: lower,
                kind: ProfileKind::RunScores,
            },
            reps: 300,
            method: percentile,
            stream: shared(6),
        },
        BootCase {
            name: "profile of task means, 3 scenarios",
            boot: Boot::Profile {
                scores: multi.clone(),
                taus: scenario_taus,
                direction: higher,
                kind: ProfileKind::TaskMeans,
            },
            reps: 300,
            method: percentile,
            stream: shared(7),
        },
        // rliable's own stream. Rust reps are 10-50× rliable's, so the band is set by rliable's.
        BootCase {
            name: "independent: mean, JCT, 20000 reps",
            boot: Boot::Aggregate { scores: a.clone(), stats: &["mean"], gap: jct_gap },
            reps: 20_000,
            method: percentile,
            stream: independent(11, 400_000),
        },
        BootCase {
            name: "independent: aggregate, 3 scenarios, 4000 reps",
            boot: Boot::Aggregate {
                scores: multi,
                stats: ALL,
                gap: OptimalityGap { threshold: 420.0, direction: higher },
            },
            reps: 4000,
            method: percentile,
            stream: independent(12, 200_000),
        },
        BootCase {
            name: "independent: P(improvement), JCT, 1000 reps",
            boot: Boot::Poi { x: a.clone(), y: b, direction: lower },
            reps: 1000,
            method: percentile,
            stream: independent(13, 200_000),
        },
        BootCase {
            name: "independent: profile, JCT, 2000 reps",
            boot: Boot::Profile { scores: a, taus: jct_taus, direction: lower, kind: ProfileKind::RunScores },
            reps: 2000,
            method: percentile,
            stream: independent(14, 100_000),
        },
    ]
}

const RUNS: [usize; 15] = [1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 33, 64, 129, 150];
const TASKS: [usize; 4] = [1, 2, 3, 5];

struct PointCase {
    x: ScoreMatrix,
    y: ScoreMatrix,
    gamma: f64,
    taus: Vec<f64>,
}

fn random_rows(rng: &mut ChaCha8Rng, runs: usize, tasks: usize, style: usize) -> Vec<Vec<f64>> {
    let scale = 10f64.powf(rng.random_range(-3.0..4.0));
    let offset = rng.random_range(-2.0..2.0) * scale;
    (0..runs)
        .map(|_| {
            (0..tasks)
                .map(|_| match style {
                    0 => offset + scale * (rng.random::<f64>() + rng.random::<f64>() + rng.random::<f64>() - 1.5),
                    1 => f64::from(rng.random_range(0..4u8)),
                    _ => (2.0 * (100.0 + 50.0 * rng.random::<f64>())).round() / 2.0,
                })
                .collect()
        })
        .collect()
}

fn point_cases() -> Vec<PointCase> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..120)
        .map(|k| {
            let tasks = TASKS[(k / RUNS.len()) % TASKS.len()];
            let style = k % 3;
            let x = random_rows(&mut rng, RUNS[k % RUNS.len()], tasks, style);
            let y = random_rows(&mut rng, RUNS[(7 * k + 3) % RUNS.len()], tasks, style);
            let flat: Vec<f64> = x.iter().flatten().copied().collect();
            let (min, max) = flat.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let pick = |i: usize| flat[i % flat.len()];
            let taus = vec![min - 1.0, min, pick(k), pick(3 * k + 1), (min + max) / 2.0, max, max + 1.0];
            PointCase {
                x: ScoreMatrix::from_rows(&x).unwrap(),
                y: ScoreMatrix::from_rows(&y).unwrap(),
                gamma: pick(5 * k + 2),
                taus,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The Python run, shared by the tests

struct Fixture {
    points: Vec<PointCase>,
    boots: Vec<BootCase>,
    output: Value,
}

fn run_python(points: &[PointCase], boots: &[BootCase]) -> Result<Value, String> {
    let input = json!({
        "points": points.iter().map(|p| json!({
            "x": p.x.to_rows(), "y": p.y.to_rows(), "gamma": p.gamma, "taus": p.taus,
        })).collect::<Vec<_>>(),
        "bootstrap": boots.iter().map(BootCase::to_json).collect::<Vec<_>>(),
    });
    let (exe, how) = python();
    let install = format!(
        "create it with `python3 -m venv .venv && .venv/bin/pip install {PINS}` at the workspace root, \
         or point CLUSTER_RL_PYTHON at a Python that has them"
    );
    let mut child = Command::new(&exe)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("rliable interop: cannot run {} ({how}): {e}; {install}", exe.display()))?;
    let body = serde_json::to_vec(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().map_err(|e| format!("rliable interop: {e}"))?;
    // A Python that exits early (failed import) closes its stdin: report its status first.
    let written = writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            return Err(format!(
                "rliable interop: {} ({how}) cannot import rliable/numpy/scipy/arch: {}; {install}",
                exe.display(),
                stderr.trim()
            ));
        }
        _ => return Err(format!("rliable interop: {} failed ({}):\n{stderr}", exe.display(), out.status)),
    }
    written.map_err(|e| format!("rliable interop: writing to Python: {e}"))?;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("rliable interop: unreadable output: {e}"))
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    let fixture = FIXTURE.get_or_init(|| {
        let points = point_cases();
        let boots = bootstrap_cases();
        let output = run_python(&points, &boots)?;
        println!("rliable interop against {}", output["versions"]);
        Ok(Fixture { points, boots, output })
    });
    match fixture {
        Ok(f) => f,
        Err(message) => panic!("{message}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/// The largest difference seen, relative to max(1, |reference|), and where.
#[derive(Default)]
struct Worst {
    diff: f64,
    at: String,
    count: usize,
}

impl Worst {
    fn check(&mut self, what: &str, ours: f64, theirs: &Value) {
        let theirs = theirs.as_f64().unwrap_or_else(|| panic!("{what}: rliable gave {theirs}"));
        let diff = (ours - theirs).abs() / theirs.abs().max(1.0);
        assert!(diff <= TOL, "{what}: ours {ours:e}, rliable {theirs:e} (relative difference {diff:e})");
        self.count += 1;
        if diff > self.diff || self.at.is_empty() {
            self.diff = self.diff.max(diff);
            self.at = format!("{what}: ours {ours:e}, rliable {theirs:e}");
        }
    }

    fn check_all(&mut self, what: &str, ours: &[f64], theirs: &Value) {
        let theirs = theirs.as_array().unwrap_or_else(|| panic!("{what}: rliable gave {theirs}"));
        assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
        for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
            self.check(&format!("{what}[{i}]"), *o, t);
        }
    }
}

#[test]
fn point_estimates_match_rliable() {
    let f = fixture();
    let answers = f.output["points"].as_array().unwrap();
    assert_eq!(answers.len(), f.points.len());
    let mut worst = Worst::default();
    let (up, down) = (Direction::HigherIsBetter, Direction::LowerIsBetter);
    for (k, (p, r)) in f.points.iter().zip(answers).enumerate() {
        let shape = format!("case {k} ({}×{} vs {} runs)", p.x.runs(), p.x.tasks(), p.y.runs());
        let gap = |direction| optimality_gap(&p.x, OptimalityGap { threshold: p.gamma, direction }).unwrap();
        worst.check(&format!("{shape} mean"), mean(&p.x), &r["mean"]);
        worst.check(&format!("{shape} median"), median(&p.x), &r["median"]);
        worst.check(&format!("{shape} iqm"), iqm(&p.x), &r["iqm"]);
        worst.check(&format!("{shape} gap higher"), gap(up), &r["gap_higher"]);
        worst.check(&format!("{shape} gap lower"), gap(down), &r["gap_lower"]);
        let poi = |d| probability_of_improvement(&p.x, &p.y, d).unwrap();
        worst.check(&format!("{shape} P(improvement) higher"), poi(up), &r["poi_higher"]);
        worst.check(&format!("{shape} P(improvement) lower"), poi(down), &r["poi_lower"]);
        for (key, d, kind) in [
            ("profile_runs_higher", up, ProfileKind::RunScores),
            ("profile_runs_lower", down, ProfileKind::RunScores),
            ("profile_means_higher", up, ProfileKind::TaskMeans),
            ("profile_means_lower", down, ProfileKind::TaskMeans),
        ] {
            let ours = performance_profile(&p.x, &p.taus, d, kind).unwrap();
            worst.check_all(&format!("{shape} {key}"), &ours, &r[key]);
        }
    }
    println!("point estimates: {} values, largest relative difference {:e} ({})", worst.count, worst.diff, worst.at);
}

#[test]
fn intervals_on_shared_resamples_match_rliable() {
    let f = fixture();
    let answers = f.output["bootstrap"].as_array().unwrap();
    let mut worst = Worst::default();
    let mut cases = 0;
    for (case, r) in f.boots.iter().zip(answers) {
        let Stream::Shared { seed } = case.stream else { continue };
        cases += 1;
        let config = BootstrapConfig { reps: case.reps, confidence: 0.95, method: case.method, seed };
        let ours = case.boot.intervals(&config);
        let estimates: Vec<f64> = ours.iter().map(|i| i.estimate).collect();
        let lows: Vec<f64> = ours.iter().map(|i| i.low).collect();
        let highs: Vec<f64> = ours.iter().map(|i| i.high).collect();
        worst.check_all(&format!("{}: estimate", case.name), &estimates, &r["point"]);
        worst.check_all(&format!("{}: low", case.name), &lows, &r["low"]);
        worst.check_all(&format!("{}: high", case.name), &highs, &r["high"]);
    }
    assert_eq!(cases, 7);
    println!("shared resamples: {} values, largest relative difference {:e} ({})", worst.count, worst.diff, worst.at);
}

/// numpy's linear percentile at `level` in [0, 1] of ascending `sorted`.
fn quantile(sorted: &[f64], level: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * level.clamp(0.0, 1.0);
    let (i, frac) = (h.floor() as usize, h - h.floor());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * frac
}

/// Monte Carlo error of a percentile interval end, without a density estimate.
///
/// rliable's end at level `p` (0.025 or 0.975) is the empirical `p`-quantile of `R_py`
/// replicates; in probability units it lands within `p ± z·√(p(1−p)/R_py)` of the bootstrap
/// distribution's quantile function with probability ≈ 1 − 2Φ(−z) (binomial count of replicates
/// below it). Our `R_rs` replicates estimate that quantile function with the same kind of error,
/// so the two errors add in variance. The check therefore asks rliable's value to lie between
/// our quantiles at levels `p ± δ`, `δ = Z·√(p(1−p)(1/R_py + 1/R_rs))`: a band in the data's own
/// units that is exact for discrete bootstrap distributions (ties, proportions) too, where a
/// value tolerance from a density would not be. With Z = 5 a correct implementation fails a
/// given check with probability below 1e-6; a wrong resampling scheme (not stratified, without
/// replacement, off by one) moves the ends by far more (for the 3-scenario case, resampling runs
/// jointly across tasks widens the mean's interval about √3×).
fn check_band(what: &str, sorted: &[f64], p: f64, r_py: usize, r_rs: usize, theirs: f64) -> (f64, f64) {
    let delta = Z * (p * (1.0 - p) * (1.0 / r_py as f64 + 1.0 / r_rs as f64)).sqrt();
    let (lo, hi) = (quantile(sorted, p - delta), quantile(sorted, p + delta));
    let slack = 1e-12 * theirs.abs().max(1.0);
    assert!(
        lo - slack <= theirs && theirs <= hi + slack,
        "{what}: rliable's {:.1} % percentile {theirs} is outside the Monte Carlo band [{lo}, {hi}] of ours \
         (levels {:.4}..{:.4})",
        100.0 * p,
        p - delta,
        p + delta,
    );
    (lo, hi)
}

#[test]
fn intervals_with_independent_streams_agree_within_monte_carlo_error() {
    let f = fixture();
    let answers = f.output["bootstrap"].as_array().unwrap();
    let mut estimates = Worst::default();
    let mut cases = 0;
    // Largest |ours − rliable's| as a fraction of the band's half-width, and of the CI width.
    let (mut worst_band, mut worst_width, mut worst_at) = (0.0f64, 0.0f64, String::new());
    for (case, r) in f.boots.iter().zip(answers) {
        let Stream::Independent { rust_seed, rust_reps, .. } = case.stream else { continue };
        cases += 1;
        let config = BootstrapConfig { reps: rust_reps, confidence: 0.95, method: case.method, seed: rust_seed };
        let ours = case.boot.intervals(&config);
        let replicates =
            bootstrap_replicates(&case.boot.matrices(), rust_reps, rust_seed, case.boot.statistic()).unwrap();
        let alpha = (1.0 - config.confidence) / 2.0;
        let mut case_worst = (0.0f64, 0.0f64);
        for (c, (interval, mut reps)) in ours.iter().zip(replicates).enumerate() {
            reps.sort_by(f64::total_cmp);
            estimates.check(&format!("{} [{c}] estimate", case.name), interval.estimate, &r["point"][c]);
            for (end, p, mine, theirs) in
                [("low", alpha, interval.low, &r["low"][c]), ("high", 1.0 - alpha, interval.high, &r["high"][c])]
            {
                let theirs = theirs.as_f64().unwrap();
                let what = format!("{} [{c}] {end}", case.name);
                let (lo, hi) = check_band(&what, &reps, p, case.reps, rust_reps, theirs);
                let diff = (mine - theirs).abs();
                let band = diff / ((hi - lo) / 2.0).max(f64::MIN_POSITIVE);
                case_worst.0 = case_worst.0.max(diff / interval.width().max(f64::MIN_POSITIVE));
                case_worst.1 = case_worst.1.max(band);
                if diff > 0.0 && band > worst_band {
                    worst_band = band;
                    worst_width = diff / interval.width().max(f64::MIN_POSITIVE);
                    worst_at = format!("{what}: ours {mine}, rliable {theirs}, band [{lo}, {hi}]");
                }
            }
        }
        println!(
            "  {}: largest |ours − rliable| at an interval end = {:.3} of the interval's width, {:.2} of the band",
            case.name, case_worst.0, case_worst.1
        );
    }
    assert_eq!(cases, 4);
    println!(
        "independent streams: estimates within {:e}; largest interval-end difference {:.2} of the Monte Carlo \
         band's half-width ({:.3} of that interval's width) at {worst_at}",
        estimates.diff, worst_band, worst_width
    );
}
