//! Task generation: arrival processes, size and demand distributions, priority classes and
//! tenants, or the replay of a CSV trace (parsed by [`crate::trace`]). Tasks are drawn one at a time (no per-episode task list is built), from a
//! random stream that depends only on the episode seed — never on the policy's decisions — so
//! every policy sees the identical workload for a given seed.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::config::{Arrivals, DemandConfig, ScenarioConfig, SizeDist};
use crate::error::{ClusterError, invalid};
use crate::replay::OpenbReplay;

/// One generated task, before it enters the simulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TaskDraw {
    pub arrival: f64,
    pub work: f64,
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
    trace: Option<Arc<Vec<crate::trace::TraceRow>>>,
    /// An `openb` replay: each episode replays one window of it.
    openb: Option<Arc<OpenbReplay>>,
}

#[derive(Debug, Clone)]
enum CompiledArrivals {
    Poisson { rate: f64 },
    Mmpp { rates: [f64; 2], mean_sojourn: [f64; 2] },
    Diurnal { mean_rate: f64, amplitude: f64, period: f64 },
    Batch,
}

/// Per-episode generator state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkloadGen {
    rng: ChaCha8Rng,
    t: f64,
    emitted: usize,
    mmpp_state: usize,
    mmpp_switch_at: f64,
    /// `openb` replays: index of the episode window's first task in the replay's tasks.
    #[serde(default)]
    window_start: usize,
    /// `openb` replays: the factor the window's arrival gaps are multiplied by.
    #[serde(default)]
    window_factor: f64,
    /// The Poisson rate of this episode when it is not the compiled one: a `poisson-load`
    /// workload on a cluster drawn per episode arrives at the rate of the drawn cluster. Not
    /// saved (a simulator state keeps the layout it always had): it is a function of the drawn
    /// node counts, which the state carries, and is set again when a state is loaded.
    #[serde(skip)]
    rate: Option<f64>,
}

impl WorkloadGen {
    /// How many tasks this episode has emitted so far.
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// Replaces the compiled Poisson rate for this episode (`None`: the compiled rate).
    pub fn set_poisson_rate(&mut self, rate: Option<f64>) {
        self.rate = rate;
    }

    /// The Poisson rate set by [`WorkloadGen::set_poisson_rate`], if any.
    #[cfg(test)]
    pub fn poisson_rate(&self) -> Option<f64> {
        self.rate
    }
}

impl Workload {
    /// The workload of an `openb` scenario compiled by [`crate::replay::compile`] (`cfg` is the
    /// compiled scenario: `n_tasks` is the window length).
    pub fn replay(cfg: &ScenarioConfig, replay: Arc<OpenbReplay>) -> Self {
        Self {
            n_tasks: cfg.workload.n_tasks,
            // Unused: arrivals come from the replay.
            arrivals: CompiledArrivals::Batch,
            size: cfg.workload.size.clone(),
            demand: cfg.workload.demand.clone(),
            class_cdf: vec![],
            tenant_cdf: vec![],
            integer_time: cfg.integer_time,
            trace: None,
            openb: Some(replay),
        }
    }

    /// Compiles the workload of a validated scenario (reading its trace, if any).
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        let wl = &cfg.workload;
        let trace = match &wl.trace {
            Some(path) => Some(Arc::new(crate::trace::read_trace(path, cfg)?)),
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
            openb: None,
        })
    }

    /// Mean task size in work units (for normalisation and load computations).
    pub fn mean_work(&self) -> f64 {
        if let Some(o) = &self.openb {
            return o.mean_work();
        }
        match &self.trace {
            Some(rows) if !rows.is_empty() => rows.iter().map(|r| r.work).sum::<f64>() / rows.len() as f64,
            _ => mean_size(&self.size),
        }
    }

    /// A fresh generator for one episode.
    pub fn start(&self, rng: ChaCha8Rng) -> WorkloadGen {
        let mut g = WorkloadGen {
            rng,
            t: 0.0,
            emitted: 0,
            mmpp_state: 0,
            mmpp_switch_at: 0.0,
            window_start: 0,
            window_factor: 0.0,
            rate: None,
        };
        if let CompiledArrivals::Mmpp { mean_sojourn, .. } = self.arrivals {
            g.mmpp_switch_at = exp(&mut g.rng) * mean_sojourn[0];
        }
        g
    }

    /// A fresh generator for the episode of `seed`: the generated workload's stream, or the
    /// `openb` window that `seed` picks (per-episode work, no allocation).
    pub fn start_episode(&self, seed: u64) -> WorkloadGen {
        let mut g = self.start(crate::streams::Stream::Workload.rng(seed));
        if let Some(o) = &self.openb {
            let (range, factor) = o.window(seed);
            g.window_start = range.start;
            g.window_factor = factor;
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
        if let Some(o) = &self.openb {
            let i = g.window_start + g.emitted - 1;
            let (task, tenant) = o.task(i);
            demand.copy_from_slice(&task.demand);
            let arrival = o.arrival(i, g.window_start, g.window_factor);
            return Some(TaskDraw { arrival, work: task.work, class: task.class, tenant });
        }
        if let Some(rows) = &self.trace {
            let row = &rows[g.emitted - 1];
            demand.copy_from_slice(&row.demand);
            return Some(TaskDraw { arrival: row.arrival, work: row.work, class: row.class, tenant: row.tenant });
        }
        // Size before interval, as Park's generator draws them.
        let mut work = sample_size(&self.size, &mut g.rng);
        let mut gap = self.next_gap(g);
        if self.integer_time {
            // Never 0: a zero-work task would have an undefined slowdown (Park sizes are >= 100).
            work = work.trunc().max(1.0);
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
            CompiledArrivals::Poisson { rate } => exp(&mut g.rng) / g.rate.unwrap_or(rate),
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
    let caps = cfg.node_capacities();
    let speeds = cfg.node_speeds();
    rate_for_supply(cfg, load, |r| caps.iter().zip(&speeds).map(|(c, s)| c[r] * s).sum())
}

/// The Poisson rate that puts `load` on the bottleneck resource of a cluster whose supply of
/// resource `r` (Σ over its nodes of capacity × speed, summed in node order) is `supply(r)`:
/// `min over r of load · supply(r) / (mean work · mean demand of r)`.
pub(crate) fn rate_for_supply(
    cfg: &ScenarioConfig,
    load: f64,
    supply: impl Fn(usize) -> f64,
) -> Result<f64, ClusterError> {
    let w = mean_size(&cfg.workload.size);
    if !w.is_finite() {
        return Err(invalid("workload.arrivals", "poisson-load", "a size distribution with a finite mean"));
    }
    let d = mean_demand(&cfg.workload.demand, cfg.resources.len());
    let rate = (0..cfg.resources.len())
        .filter(|&r| d[r] > 0.0)
        .map(|r| load * supply(r) / (w * d[r]))
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

#[cfg(test)]
mod tests {
    //! Generated workloads have the analytical moments.

    use rand::SeedableRng;

    use super::*;
    use crate::config::*;

    /// A scenario generating tasks (no trace) with the given arrivals and sizes.
    fn gen_cfg(arrivals: Arrivals, size: SizeDist) -> ScenarioConfig {
        let mut cfg = crate::scenarios::seed_case();
        cfg.workload.arrivals = arrivals;
        cfg.workload.size = size;
        cfg
    }

    /// `n` draws of (arrival, work, class, tenant, demand) from the workload of `cfg` at `seed`.
    fn draws(cfg: &ScenarioConfig, n: usize, seed: u64) -> Vec<(TaskDraw, Vec<f64>)> {
        let mut cfg = cfg.clone();
        cfg.workload.n_tasks = n;
        let wl = Workload::new(&cfg).unwrap();
        let mut g = wl.start(ChaCha8Rng::seed_from_u64(seed));
        let mut d = vec![0.0; cfg.resources.len()];
        let out: Vec<_> = std::iter::from_fn(|| wl.next(&mut g, &mut d).map(|t| (t, d.clone()))).collect();
        assert_eq!(out.len(), n);
        out
    }

    fn mean(xs: impl Iterator<Item = f64>) -> f64 {
        let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
        s / n as f64
    }

    fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
        assert!((got - want).abs() <= tol * want.abs(), "{what}: {got}, expected {want} ± {}%", tol * 100.0);
    }

    const N: usize = 200_000;

    #[test]
    fn size_distributions_have_their_analytical_means() {
        let arrivals = Arrivals::Poisson { rate: 1.0 };
        let cases = [
            // Pareto: scale·shape/(shape−1); shape 4 keeps the variance finite.
            (SizeDist::Pareto { shape: 4.0, scale: 10.0 }, 10.0 * 4.0 / 3.0),
            (SizeDist::Exponential { mean: 7.0 }, 7.0),
            (SizeDist::Uniform { low: 2.0, high: 5.0 }, 3.5),
            (SizeDist::Bimodal { short: [10.0, 30.0], long: [100.0, 150.0], p_long: 0.2 }, 0.8 * 20.0 + 0.2 * 125.0),
            (SizeDist::LogNormal { mu: 1.0, sigma: 0.5 }, (1.0f64 + 0.125).exp()),
        ];
        for (size, want) in cases {
            assert_eq!(mean_size(&size), want, "{size:?}");
            let xs = draws(&gen_cfg(arrivals.clone(), size.clone()), N, 11);
            // Standard errors are below 0.3% of the mean for all of these at N = 200k.
            assert_rel(mean(xs.iter().map(|(t, _)| t.work)), want, 0.01, &format!("{size:?}"));
            match size {
                SizeDist::Pareto { shape, scale } => {
                    assert!(xs.iter().all(|(t, _)| t.work >= scale));
                    // Tail: P(X > 2·scale) = 2^−shape.
                    let tail = xs.iter().filter(|(t, _)| t.work > 2.0 * scale).count() as f64 / N as f64;
                    assert_rel(tail, 2f64.powf(-shape), 0.03, "pareto tail");
                }
                SizeDist::Uniform { low, high } => assert!(xs.iter().all(|(t, _)| (low..=high).contains(&t.work))),
                SizeDist::Bimodal { p_long, .. } => {
                    let long = xs.iter().filter(|(t, _)| t.work >= 100.0).count() as f64 / N as f64;
                    assert_rel(long, p_long, 0.02, "bimodal p_long");
                    assert!(
                        xs.iter().all(|(t, _)| (10.0..=30.0).contains(&t.work) || (100.0..=150.0).contains(&t.work))
                    );
                }
                _ => {}
            }
        }
        assert_eq!(mean_size(&SizeDist::Pareto { shape: 1.0, scale: 1.0 }), f64::INFINITY);
    }

    #[test]
    fn integer_time_truncates_sizes_and_gaps() {
        let mut cfg = gen_cfg(Arrivals::Poisson { rate: 0.25 }, SizeDist::Uniform { low: 2.0, high: 5.0 });
        cfg.integer_time = true;
        let xs = draws(&cfg, N, 5);
        assert!(xs.iter().all(|(t, _)| t.work.fract() == 0.0 && t.arrival.fract() == 0.0));
        // trunc(U[2, 5]) is 2, 3 or 4 with probability 1/3 each.
        assert_rel(mean(xs.iter().map(|(t, _)| t.work)), 3.0, 0.01, "truncated uniform");
        // E[trunc(Exp(mean 4))] = 1/(e^{1/4} − 1).
        let gap = xs.last().unwrap().0.arrival / N as f64;
        assert_rel(gap, 1.0 / (0.25f64.exp() - 1.0), 0.01, "truncated exponential gap");
    }

    /// Long-run arrival rate: arrivals / time of the last arrival.
    fn rate_of(xs: &[(TaskDraw, Vec<f64>)]) -> f64 {
        xs.len() as f64 / xs.last().unwrap().0.arrival
    }

    #[test]
    fn arrival_processes_have_their_analytical_rates() {
        let size = SizeDist::Exponential { mean: 1.0 };
        let xs = draws(&gen_cfg(Arrivals::Poisson { rate: 2.0 }, size.clone()), N, 1);
        assert_rel(rate_of(&xs), 2.0, 0.01, "poisson rate");
        assert!(xs.windows(2).all(|w| w[0].0.arrival <= w[1].0.arrival), "arrivals are sorted");

        // MMPP: long-run rate Σ rate_i·sojourn_i / Σ sojourn_i = (5·2 + 0.5·8) / 10 = 1.4.
        let mmpp = Arrivals::Mmpp { rates: [5.0, 0.5], mean_sojourn: [2.0, 8.0] };
        let xs = draws(&gen_cfg(mmpp, size.clone()), N, 2);
        assert_rel(rate_of(&xs), 1.4, 0.03, "mmpp long-run rate");
        // Bursty: the gaps' coefficient of variation exceeds the Poisson process's 1.
        let gaps: Vec<f64> = xs.windows(2).map(|w| w[1].0.arrival - w[0].0.arrival).collect();
        let m = mean(gaps.iter().copied());
        let cv = mean(gaps.iter().map(|g| (g - m).powi(2))).sqrt() / m;
        assert!(cv > 1.3, "mmpp gaps cv {cv}");

        // Diurnal: mean rate over whole periods, and more arrivals in the half-period where the
        // sine is positive: ∫ over it / ∫ over the period = 1/2 + amplitude/π.
        let (mean_rate, amplitude, period) = (2.0, 0.8, 50.0);
        let xs = draws(&gen_cfg(Arrivals::Diurnal { mean_rate, amplitude, period }, size.clone()), N, 3);
        let whole = (xs.last().unwrap().0.arrival / period).floor() * period;
        let within: Vec<f64> = xs.iter().map(|(t, _)| t.arrival).filter(|&a| a < whole).collect();
        assert_rel(within.len() as f64 / whole, mean_rate, 0.01, "diurnal mean rate");
        let first_half = within.iter().filter(|&&a| (a % period) < period / 2.0).count() as f64;
        assert_rel(first_half / within.len() as f64, 0.5 + amplitude / std::f64::consts::PI, 0.01, "diurnal phase");

        // Batch: everything at t = 0.
        let xs = draws(&gen_cfg(Arrivals::Batch, size), 1000, 4);
        assert!(xs.iter().all(|(t, _)| t.arrival == 0.0));
    }

    #[test]
    fn poisson_load_offers_the_intended_load() {
        // multi-resource: dominant demands, bimodal sizes, heterogeneous capacity × speed.
        let cfg = crate::scenarios::multi_resource();
        let Arrivals::PoissonLoad { load } = cfg.workload.arrivals else { panic!("multi-resource uses poisson-load") };
        let xs = draws(&cfg, N, 9);
        let caps = cfg.node_capacities();
        let speeds = cfg.node_speeds();
        let horizon = xs.last().unwrap().0.arrival;
        let offered: Vec<f64> = (0..3)
            .map(|r| {
                let work: f64 = xs.iter().map(|(t, d)| t.work * d[r]).sum();
                let supply: f64 = caps.iter().zip(&speeds).map(|(c, s)| c[r] * s).sum();
                work / (horizon * supply)
            })
            .collect();
        // Symmetric resources: each is a bottleneck at the target load.
        for (r, o) in offered.iter().enumerate() {
            assert_rel(*o, load, 0.02, &format!("offered load on resource {r}"));
        }
        // Dominant demand means: unit · (1/3 · 0.375 + 2/3 · 0.075).
        for r in 0..3 {
            let m = mean(xs.iter().map(|(_, d)| d[r]));
            assert_rel(m, 8.0 * (0.375 / 3.0 + 2.0 * 0.075 / 3.0), 0.01, "dominant demand mean");
        }

        // Asymmetric: seed-case at load 0.5; the bottleneck resource gets exactly the load.
        let mut cfg = crate::scenarios::seed_case();
        cfg.workload.arrivals = Arrivals::PoissonLoad { load: 0.5 };
        let xs = draws(&cfg, N, 10);
        let caps = cfg.node_capacities();
        let speeds = cfg.node_speeds();
        let horizon = xs.last().unwrap().0.arrival;
        let offered = (0..3)
            .map(|r| {
                let work: f64 = xs.iter().map(|(t, d)| t.work * d[r]).sum();
                work / (horizon * caps.iter().zip(&speeds).map(|(c, s)| c[r] * s).sum::<f64>())
            })
            .fold(0.0, f64::max);
        assert_rel(offered, 0.5, 0.02, "seed-case bottleneck load");
    }

    #[test]
    fn classes_and_tenants_follow_their_probabilities() {
        let cfg = crate::scenarios::seed_case();
        let xs = draws(&cfg, N, 8);
        for (c, p) in [0.5, 0.35, 0.15].iter().enumerate() {
            let f = xs.iter().filter(|(t, _)| t.class as usize == c).count() as f64 / N as f64;
            assert_rel(f, *p, 0.02, &format!("class {c}"));
        }
        let secure = xs.iter().filter(|(t, _)| t.tenant == 1).count() as f64 / N as f64;
        assert_rel(secure, 0.2, 0.02, "secure tenant");
        // Ranges demand: uniform within each resource's range, mean at the midpoint.
        for (r, [lo, hi]) in [[1.0, 8.0], [2.0, 96.0], [0.5, 12.0]].iter().enumerate() {
            assert!(xs.iter().all(|(_, d)| (*lo..=*hi).contains(&d[r])));
            assert_rel(mean(xs.iter().map(|(_, d)| d[r])), 0.5 * (lo + hi), 0.01, "ranges demand mean");
        }
    }

    #[test]
    fn same_seed_same_workload_different_seed_different() {
        let cfg = crate::scenarios::seed_case();
        let a = draws(&cfg, 500, 42);
        assert_eq!(a, draws(&cfg, 500, 42));
        assert_ne!(a, draws(&cfg, 500, 43));
    }
}
