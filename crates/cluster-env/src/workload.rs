//! Task generation: arrival processes, size and demand distributions, priority classes, tenants,
//! and CSV trace replay. Tasks are drawn one at a time (no per-episode task list is built), from a
//! random stream that depends only on the episode seed — never on the policy's decisions — so
//! every policy sees the identical workload for a given seed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

use crate::config::{Arrivals, DemandConfig, ScenarioConfig, SizeDist, WorkloadConfig};
use crate::error::{ClusterError, invalid};

/// One generated task, before it enters the simulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TaskDraw {
    pub arrival: f64,
    pub work: f64,
    pub class: u16,
    pub tenant: u16,
}

/// A trace row, already validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TraceRow {
    pub arrival: f64,
    pub work: f64,
    pub demand: Vec<f64>,
    pub class: u16,
    pub tenant: u16,
}

/// The static description of a workload, compiled from its config.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub n_tasks: usize,
    arrivals: CompiledArrivals,
    size: SizeDist,
    demand: DemandConfig,
    class_cdf: Vec<f64>,
    tenant_cdf: Vec<f64>,
    integer_time: bool,
    trace: Option<Arc<Vec<TraceRow>>>,
}

#[derive(Debug, Clone)]
enum CompiledArrivals {
    Poisson { rate: f64 },
    Mmpp { rates: [f64; 2], mean_sojourn: [f64; 2] },
    Diurnal { mean_rate: f64, amplitude: f64, period: f64 },
    Batch,
}

/// Per-episode generator state.
#[derive(Debug, Clone)]
pub(crate) struct WorkloadGen {
    rng: ChaCha8Rng,
    t: f64,
    emitted: usize,
    mmpp_state: usize,
    mmpp_switch_at: f64,
}

impl Workload {
    /// Compiles the workload of a validated scenario (reading its trace, if any).
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        let wl = &cfg.workload;
        let trace = match &wl.trace {
            Some(path) => Some(Arc::new(read_trace(path, cfg)?)),
            None => None,
        };
        let arrivals = match &wl.arrivals {
            Arrivals::Poisson { rate } => CompiledArrivals::Poisson { rate: *rate },
            Arrivals::PoissonLoad { load } => CompiledArrivals::Poisson { rate: rate_for_load(cfg, *load)? },
            Arrivals::Mmpp { rates, mean_sojourn } => {
                CompiledArrivals::Mmpp { rates: *rates, mean_sojourn: *mean_sojourn }
            }
            Arrivals::Diurnal { mean_rate, amplitude, period } => {
                CompiledArrivals::Diurnal { mean_rate: *mean_rate, amplitude: *amplitude, period: *period }
            }
            Arrivals::Batch => CompiledArrivals::Batch,
        };
        Ok(Self {
            n_tasks: trace.as_ref().map_or(wl.n_tasks, |t| t.len()),
            arrivals,
            size: wl.size.clone(),
            demand: wl.demand.clone(),
            class_cdf: cdf(wl.priorities.iter().map(|p| p.prob)),
            tenant_cdf: cdf(wl.tenants.iter().map(|t| t.prob)),
            integer_time: cfg.integer_time,
            trace,
        })
    }

    /// Mean task size in work units (for normalisation and load computations).
    pub fn mean_work(&self) -> f64 {
        match &self.trace {
            Some(rows) if !rows.is_empty() => rows.iter().map(|r| r.work).sum::<f64>() / rows.len() as f64,
            _ => mean_size(&self.size),
        }
    }

    /// A fresh generator for one episode.
    pub fn start(&self, rng: ChaCha8Rng) -> WorkloadGen {
        let mut g = WorkloadGen { rng, t: 0.0, emitted: 0, mmpp_state: 0, mmpp_switch_at: 0.0 };
        if let CompiledArrivals::Mmpp { mean_sojourn, .. } = self.arrivals {
            g.mmpp_switch_at = exp(&mut g.rng) * mean_sojourn[0];
        }
        g
    }

    /// Draws the next task into `demand` (one value per resource); `None` when the episode's
    /// workload is exhausted.
    pub fn next(&self, g: &mut WorkloadGen, demand: &mut [f64]) -> Option<TaskDraw> {
        if g.emitted >= self.n_tasks {
            return None;
        }
        g.emitted += 1;
        if let Some(rows) = &self.trace {
            let row = &rows[g.emitted - 1];
            demand.copy_from_slice(&row.demand);
            return Some(TaskDraw { arrival: row.arrival, work: row.work, class: row.class, tenant: row.tenant });
        }
        // Size before interval, as Park's generator draws them.
        let mut work = sample_size(&self.size, &mut g.rng);
        let mut gap = self.next_gap(g);
        if self.integer_time {
            work = work.trunc();
            gap = gap.trunc();
        }
        g.t += gap;
        self.sample_demand(&mut g.rng, demand);
        let class = pick(&self.class_cdf, &mut g.rng);
        let tenant = if self.tenant_cdf.is_empty() { 0 } else { pick(&self.tenant_cdf, &mut g.rng) };
        Some(TaskDraw { arrival: g.t, work, class, tenant })
    }

    /// Time from the previous arrival to the next one.
    fn next_gap(&self, g: &mut WorkloadGen) -> f64 {
        match self.arrivals {
            CompiledArrivals::Batch => 0.0,
            CompiledArrivals::Poisson { rate } => exp(&mut g.rng) / rate,
            CompiledArrivals::Mmpp { rates, mean_sojourn } => {
                // Exponential clocks are memoryless: draw within the current state and switch
                // state whenever the sojourn ends first.
                let mut t = g.t;
                loop {
                    let cand = t + exp(&mut g.rng) / rates[g.mmpp_state];
                    if cand < g.mmpp_switch_at {
                        return cand - g.t;
                    }
                    t = g.mmpp_switch_at;
                    g.mmpp_state = 1 - g.mmpp_state;
                    g.mmpp_switch_at = t + exp(&mut g.rng) * mean_sojourn[g.mmpp_state];
                }
            }
            CompiledArrivals::Diurnal { mean_rate, amplitude, period } => {
                // Thinning (Lewis–Shedler) against the peak rate.
                let peak = mean_rate * (1.0 + amplitude);
                let mut t = g.t;
                loop {
                    t += exp(&mut g.rng) / peak;
                    let rate = mean_rate * (1.0 + amplitude * (std::f64::consts::TAU * t / period).sin());
                    if g.rng.random::<f64>() * peak <= rate {
                        return t - g.t;
                    }
                }
            }
        }
    }

    fn sample_demand(&self, rng: &mut ChaCha8Rng, demand: &mut [f64]) {
        match &self.demand {
            DemandConfig::Ranges { ranges } => {
                for (d, rg) in demand.iter_mut().zip(ranges) {
                    *d = uniform(rng, rg[0], rg[1]);
                }
            }
            DemandConfig::Dominant { dominant, other, unit } => {
                let dom = rng.random_range(0..demand.len());
                for (i, (d, u)) in demand.iter_mut().zip(unit).enumerate() {
                    let rg = if i == dom { dominant } else { other };
                    *d = uniform(rng, rg[0], rg[1]) * u;
                }
            }
        }
    }
}

fn exp(rng: &mut ChaCha8Rng) -> f64 {
    Exp1.sample(rng)
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo { lo + (hi - lo) * rng.random::<f64>() } else { lo }
}

fn sample_size(size: &SizeDist, rng: &mut ChaCha8Rng) -> f64 {
    match *size {
        // numpy's pareto(a) is Lomax: exp(E / a) - 1 with E ~ Exp(1); Park adds 1 and scales.
        SizeDist::Pareto { shape, scale } => (exp(rng) / shape).exp() * scale,
        SizeDist::Exponential { mean } => exp(rng) * mean,
        SizeDist::Uniform { low, high } => uniform(rng, low, high),
        SizeDist::Bimodal { short, long, p_long } => {
            let rg = if rng.random::<f64>() < p_long { long } else { short };
            uniform(rng, rg[0], rg[1])
        }
        SizeDist::LogNormal { mu, sigma } => {
            let z: f64 = StandardNormal.sample(rng);
            (mu + sigma * z).exp()
        }
    }
}

/// Expected task size of a distribution (infinite for a Pareto with shape ≤ 1).
pub(crate) fn mean_size(size: &SizeDist) -> f64 {
    match *size {
        SizeDist::Pareto { shape, scale } => {
            if shape > 1.0 {
                scale * shape / (shape - 1.0)
            } else {
                f64::INFINITY
            }
        }
        SizeDist::Exponential { mean } => mean,
        SizeDist::Uniform { low, high } => 0.5 * (low + high),
        SizeDist::Bimodal { short, long, p_long } => {
            (1.0 - p_long) * 0.5 * (short[0] + short[1]) + p_long * 0.5 * (long[0] + long[1])
        }
        SizeDist::LogNormal { mu, sigma } => (mu + 0.5 * sigma * sigma).exp(),
    }
}

/// Expected demand per resource.
fn mean_demand(demand: &DemandConfig, r: usize) -> Vec<f64> {
    match demand {
        DemandConfig::Ranges { ranges } => ranges.iter().map(|rg| 0.5 * (rg[0] + rg[1])).collect(),
        DemandConfig::Dominant { dominant, other, unit } => {
            let p = 1.0 / r as f64;
            let d = 0.5 * (dominant[0] + dominant[1]);
            let o = 0.5 * (other[0] + other[1]);
            unit.iter().map(|u| u * (p * d + (1.0 - p) * o)).collect()
        }
    }
}

/// Poisson rate that offers `load` on the bottleneck resource: λ·E[work]·E[d_r] = load ·
/// Σ_nodes cap_r · speed, minimised over resources r.
fn rate_for_load(cfg: &ScenarioConfig, load: f64) -> Result<f64, ClusterError> {
    let w = mean_size(&cfg.workload.size);
    if !w.is_finite() {
        return Err(invalid("workload.arrivals", "poisson-load", "a size distribution with a finite mean"));
    }
    let d = mean_demand(&cfg.workload.demand, cfg.resources.len());
    let caps = cfg.node_capacities();
    let speeds = cfg.node_speeds();
    let rate = (0..cfg.resources.len())
        .filter(|&r| d[r] > 0.0)
        .map(|r| {
            let supply: f64 = caps.iter().zip(&speeds).map(|(c, s)| c[r] * s).sum();
            load * supply / (w * d[r])
        })
        .fold(f64::INFINITY, f64::min);
    if !rate.is_finite() {
        return Err(invalid("workload.demand", "all zero", "a positive demand on at least one resource"));
    }
    Ok(rate)
}

fn cdf(probs: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    probs
        .map(|p| {
            acc += p;
            acc
        })
        .collect()
}

fn pick(cdf: &[f64], rng: &mut ChaCha8Rng) -> u16 {
    if cdf.len() <= 1 {
        return 0;
    }
    let u = rng.random::<f64>() * cdf[cdf.len() - 1];
    cdf.iter().position(|&c| u < c).unwrap_or(cdf.len() - 1) as u16
}

/// Reads a CSV trace: a header `arrival,work,<resource...>,priority[,tenant]`, then one task per
/// row in non-decreasing arrival order. Errors name the line and column of bad data.
pub(crate) fn read_trace(path: &Path, cfg: &ScenarioConfig) -> Result<Vec<TraceRow>, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|e| trace_err(path, 0, 0, format!("cannot read: {e}")))?;
    parse_trace(&text, path, cfg)
}

fn trace_err(path: &Path, line: usize, column: usize, message: String) -> ClusterError {
    ClusterError::Trace { path: PathBuf::from(path), line, column, message }
}

pub(crate) fn parse_trace(text: &str, path: &Path, cfg: &ScenarioConfig) -> Result<Vec<TraceRow>, ClusterError> {
    let wl: &WorkloadConfig = &cfg.workload;
    let r = cfg.resources.len();
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        return Err(trace_err(path, 1, 0, "empty trace: expected a header row".into()));
    };
    let mut expected: Vec<String> = vec!["arrival".into(), "work".into()];
    expected.extend(cfg.resources.iter().cloned());
    expected.push("priority".into());
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let has_tenant = cols.len() == expected.len() + 1 && cols.last() == Some(&"tenant");
    for (i, want) in expected.iter().enumerate() {
        if cols.get(i) != Some(&want.as_str()) {
            return Err(trace_err(
                path,
                hline + 1,
                i + 1,
                format!(
                    "header column {} is {:?}, expected {want:?} (header: {})",
                    i + 1,
                    cols.get(i).unwrap_or(&""),
                    expected.join(",")
                ),
            ));
        }
    }
    if cols.len() != expected.len() && !has_tenant {
        return Err(trace_err(
            path,
            hline + 1,
            expected.len() + 1,
            format!("unexpected extra header columns; expected {} [,tenant]", expected.join(",")),
        ));
    }
    let n_cols = cols.len();
    let caps = cfg.node_capacities();
    let mut rows = Vec::new();
    let mut last = 0.0f64;
    for (ln, line) in lines {
        let line_no = ln + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != n_cols {
            return Err(trace_err(path, line_no, 0, format!("expected {n_cols} columns, found {}", fields.len())));
        }
        let num = |c: usize| -> Result<f64, ClusterError> {
            let v: f64 = fields[c].parse().map_err(|_| {
                trace_err(path, line_no, c + 1, format!("{:?} in column {:?} is not a number", fields[c], cols[c]))
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(trace_err(
                    path,
                    line_no,
                    c + 1,
                    format!("{v} in column {:?} must be finite and >= 0", cols[c]),
                ));
            }
            Ok(v)
        };
        let arrival = num(0)?;
        if arrival < last {
            return Err(trace_err(
                path,
                line_no,
                1,
                format!("arrival {arrival} is earlier than the previous row's {last}: rows must be in arrival order"),
            ));
        }
        last = arrival;
        let work = num(1)?;
        if work <= 0.0 {
            return Err(trace_err(path, line_no, 2, format!("work {work} must be > 0")));
        }
        let demand = (0..r).map(|i| num(2 + i)).collect::<Result<Vec<_>, _>>()?;
        let index = |c: usize, n: usize, what: &str| -> Result<u16, ClusterError> {
            match fields[c].parse::<usize>() {
                Ok(v) if v < n => Ok(v as u16),
                _ => Err(trace_err(
                    path,
                    line_no,
                    c + 1,
                    format!("{:?} is not a valid {what} index: expected an integer in 0..{n}", fields[c]),
                )),
            }
        };
        let class = index(2 + r, wl.priorities.len(), "priority class")?;
        let tenant = if has_tenant { index(3 + r, wl.tenants.len().max(1), "tenant")? } else { 0 };
        let allowed: Vec<usize> =
            wl.tenants.get(tenant as usize).and_then(|t| t.nodes.clone()).unwrap_or_else(|| (0..caps.len()).collect());
        if !allowed.iter().any(|&n| caps[n].iter().zip(&demand).all(|(c, d)| d <= c)) {
            return Err(trace_err(
                path,
                line_no,
                3,
                format!("demand {demand:?} fits no node this task may use: it could never run"),
            ));
        }
        rows.push(TraceRow { arrival, work, demand, class, tenant });
    }
    if rows.is_empty() {
        return Err(trace_err(path, hline + 1, 0, "trace has a header but no tasks".into()));
    }
    Ok(rows)
}
