//! Saving and restoring a [`Simulator`]'s complete dynamic state, so that training resumed from
//! a checkpoint continues the same episodes bit-identically.
//!
//! The state is the simulator's fields minus what the compiled scenario determines (shared by
//! `Arc`, rebuilt from the experiment) and minus scratch buffers. It is encoded with postcard
//! (serde, little-endian floats: every `f64` and RNG word round-trips exactly). A restored
//! state is checked against the scenario it is loaded into (sizes, and every node and task
//! index it holds) before it replaces anything, so that a state of another scenario is an
//! error and no index read from the bytes is out of range. Whether a state is *meaningful* is
//! not checked: the trainer stores a checksum beside it, which catches damage first.
//!
//! A scenario whose cluster is drawn per episode appends the episode's node counts (one per
//! group, postcard) after the state: the rest of the episode runs on that cluster. A
//! fixed-size scenario appends nothing, so its states are byte for byte what they were.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Event, EventKind, SimNode, SimTask, Simulator};
use crate::error::ClusterError;
use crate::metrics::MetricsAcc;
use crate::reward::RewardAcc;
use crate::workload::WorkloadGen;

/// Layout version of the encoded state; bumped whenever a field changes.
const STATE_VERSION: u32 = 1;

/// The dynamic state, borrowed when saving and owned when loading.
#[derive(Serialize, Deserialize)]
struct SimState<'a> {
    version: u32,
    /// The scenario's sizes, to name a mismatch clearly.
    n_nodes: u64,
    n_res: u64,
    n_tasks: u64,
    now: f64,
    workload_gen: Cow<'a, WorkloadGen>,
    fail_rng: Cow<'a, [ChaCha8Rng]>,
    nodes: Cow<'a, [SimNode]>,
    used: Cow<'a, [f64]>,
    tasks: Cow<'a, [SimTask]>,
    demand: Cow<'a, [f64]>,
    /// The event heap as a list; the heap is rebuilt on load (events are totally ordered by
    /// `(time, class, seq)` with unique `seq`, so the rebuilt heap pops in the same order).
    events: Vec<Event>,
    seq: u64,
    next_arrival: Option<u32>,
    pending: Cow<'a, VecDeque<u32>>,
    waiting: Cow<'a, [u32]>,
    mask: Cow<'a, [bool]>,
    current: Option<u32>,
    reward: Cow<'a, RewardAcc>,
    total_used: Cow<'a, [f64]>,
    acc: Cow<'a, MetricsAcc>,
    decisions: u64,
    done: bool,
}

fn bad(message: impl Into<String>) -> ClusterError {
    ClusterError::BadState(message.into())
}

impl Simulator {
    /// The simulator's complete dynamic state as bytes, for [`Simulator::load_state`] into a
    /// simulator of the same scenario.
    pub fn save_state(&self) -> Vec<u8> {
        let state = SimState {
            version: STATE_VERSION,
            n_nodes: self.c.n_nodes as u64,
            n_res: self.c.n_res as u64,
            n_tasks: self.c.workload.n_tasks as u64,
            now: self.now,
            workload_gen: Cow::Borrowed(&self.workload_gen),
            fail_rng: Cow::Borrowed(&self.fail_rng),
            nodes: Cow::Borrowed(&self.nodes),
            used: Cow::Borrowed(&self.used),
            tasks: Cow::Borrowed(&self.tasks),
            demand: Cow::Borrowed(&self.demand),
            events: self.events.iter().copied().collect(),
            seq: self.seq,
            next_arrival: self.next_arrival,
            pending: Cow::Borrowed(&self.pending),
            waiting: Cow::Borrowed(&self.waiting),
            mask: Cow::Borrowed(&self.mask),
            current: self.current,
            reward: Cow::Borrowed(&self.reward),
            total_used: Cow::Borrowed(&self.total_used),
            acc: Cow::Borrowed(&self.acc),
            decisions: self.decisions,
            done: self.done,
        };
        // Encoding plain data into a Vec cannot fail.
        let mut bytes = postcard::to_stdvec(&state).unwrap_or_default();
        if self.c.has_variable_cluster() {
            let counts: Vec<u64> = self.cluster.counts.iter().map(|&n| n as u64).collect();
            bytes.extend(postcard::to_stdvec(&counts).unwrap_or_default());
        }
        bytes
    }

    /// Restores a state written by [`Simulator::save_state`] of a simulator of the same
    /// scenario: the simulator then continues exactly as the saved one would have.
    ///
    /// # Errors
    /// [`ClusterError::BadState`] if the bytes do not decode, come from another version or
    /// another scenario (naming the differing size), or hold an index out of range. The
    /// simulator is unchanged then.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), ClusterError> {
        let (s, trailer): (SimState<'static>, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|e| bad(format!("the simulator state does not decode: {e}")))?;
        if s.version != STATE_VERSION {
            return Err(bad(format!(
                "simulator state version {} (this build reads version {STATE_VERSION})",
                s.version
            )));
        }
        let c = &self.c;
        let (n_nodes, n_res, n_tasks) = (c.n_nodes, c.n_res, c.workload.n_tasks);
        for (what, saved, now) in
            [("nodes", s.n_nodes, n_nodes), ("resources", s.n_res, n_res), ("tasks per episode", s.n_tasks, n_tasks)]
        {
            if saved != now as u64 {
                return Err(bad(format!("the state is of a scenario with {saved} {what}, this one has {now}")));
            }
        }
        check_state(&s, c.n_nodes, c.n_res, n_tasks, c.weights.len(), c.allowed.len() / n_nodes.max(1))?;
        if s.reward.kind() != c.cfg.reward {
            return Err(bad(format!(
                "the state's reward is {:?}, the scenario's is {:?}",
                s.reward.kind(),
                c.cfg.reward
            )));
        }
        // The episode's cluster: the counts after the state, or the compiled cluster.
        let counts: Vec<usize> = if c.has_variable_cluster() {
            let (counts, rest): (Vec<u64>, &[u8]) = postcard::take_from_bytes(trailer)
                .map_err(|e| bad(format!("the drawn cluster's node counts do not decode: {e}")))?;
            if !rest.is_empty() {
                return Err(bad(format!("{} bytes after the state", rest.len())));
            }
            let counts: Vec<usize> = counts.into_iter().map(|n| usize::try_from(n).unwrap_or(usize::MAX)).collect();
            c.check_counts(&counts).map_err(|e| bad(format!("the drawn cluster: {e}")))?;
            counts
        } else {
            if !trailer.is_empty() {
                return Err(bad(format!("{} bytes after the state", trailer.len())));
            }
            c.scenario().nodes.iter().map(|g| g.count.hi()).collect()
        };
        let c = Arc::clone(&self.c);
        c.fill_cluster(&counts, &mut self.cluster);
        self.now = s.now;
        self.workload_gen = s.workload_gen.into_owned();
        // Not part of the saved generator: a function of the cluster restored above.
        self.workload_gen.set_poisson_rate(self.cluster.arrival_rate);
        self.fail_rng = s.fail_rng.into_owned();
        self.nodes = s.nodes.into_owned();
        self.used = s.used.into_owned();
        self.tasks = s.tasks.into_owned();
        self.demand = s.demand.into_owned();
        self.events = s.events.into_iter().collect();
        self.seq = s.seq;
        self.next_arrival = s.next_arrival;
        self.pending = s.pending.into_owned();
        self.waiting = s.waiting.into_owned();
        self.mask = s.mask.into_owned();
        self.current = s.current;
        self.reward = s.reward.into_owned();
        self.total_used = s.total_used.into_owned();
        self.acc = s.acc.into_owned();
        self.decisions = s.decisions;
        self.done = s.done;
        Ok(())
    }
}

/// Every size and index of `s` against the scenario's: what the engine indexes with them.
fn check_state(
    s: &SimState<'_>,
    n_nodes: usize,
    n_res: usize,
    n_tasks: usize,
    n_classes: usize,
    n_tenants: usize,
) -> Result<(), ClusterError> {
    let len = |what: &str, got: usize, want: usize| {
        if got == want { Ok(()) } else { Err(bad(format!("{what} has {got} entries, the scenario needs {want}"))) }
    };
    len("nodes", s.nodes.len(), n_nodes)?;
    len("used", s.used.len(), n_nodes * n_res)?;
    len("mask", s.mask.len(), n_nodes)?;
    len("total_used", s.total_used.len(), n_res)?;
    len("utilisation integrals", s.acc.util_integral.len(), n_res)?;
    if !s.fail_rng.is_empty() {
        len("failure streams", s.fail_rng.len(), n_nodes)?;
    }
    if s.tasks.len() > n_tasks {
        return Err(bad(format!("{} tasks, more than the episode's {n_tasks}", s.tasks.len())));
    }
    len("demand", s.demand.len(), s.tasks.len() * n_res)?;
    if s.acc.jcts.len() > s.tasks.len() || s.workload_gen.emitted() > n_tasks {
        return Err(bad("more completions or arrivals than tasks"));
    }
    let task = |t: u32| {
        if (t as usize) < s.tasks.len() {
            Ok(())
        } else {
            Err(bad(format!("task index {t} with {} tasks arrived", s.tasks.len())))
        }
    };
    let node = |n: u32| if (n as usize) < n_nodes { Ok(()) } else { Err(bad(format!("node index {n} of {n_nodes}"))) };
    for t in s.tasks.iter() {
        if usize::from(t.class) >= n_classes || usize::from(t.tenant) >= n_tenants {
            return Err(bad(format!("a task of class {} and tenant {}: out of range", t.class, t.tenant)));
        }
    }
    for n in s.nodes.iter() {
        n.queue.iter().chain(&n.running).try_for_each(|&t| task(t))?;
    }
    s.pending.iter().chain(s.waiting.iter()).chain(&s.current).try_for_each(|&t| task(t))?;
    if let Some(next) = s.next_arrival
        && next as usize > n_tasks
    {
        return Err(bad(format!("next arrival {next} of {n_tasks} tasks")));
    }
    for e in &s.events {
        match e.kind {
            EventKind::Completion { node: n, task: t, .. } => {
                node(n)?;
                task(t)?;
            }
            EventKind::Down { node: n, .. } | EventKind::Up { node: n, .. } => node(n)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Simulator, scenarios};

    /// Runs `sim` with the first valid node until `decisions` more decisions or the end.
    fn run(sim: &mut Simulator, decisions: usize) -> Vec<usize> {
        let mut chosen = Vec::new();
        while !sim.is_done() && chosen.len() < decisions {
            // A deterministic, state-dependent rule: the valid node after the decision count.
            let n = sim.mask().len();
            let start = chosen.len() % n;
            let node = (0..n).map(|i| (start + i) % n).find(|&i| sim.mask()[i]).unwrap();
            sim.place(node).unwrap();
            chosen.push(node);
        }
        chosen
    }

    #[test]
    fn a_restored_simulator_continues_exactly() {
        for name in ["park-lb", "faulty", "multi-resource", "seed-case"] {
            let cfg = scenarios::preset(name).unwrap();
            let mut a = Simulator::new(&cfg).unwrap();
            a.reset(11);
            run(&mut a, 137);
            let bytes = a.save_state();
            let mut b = Simulator::new(&cfg).unwrap();
            b.reset(999); // another episode in progress: everything must be replaced
            b.load_state(&bytes).unwrap();
            assert_eq!(b.save_state(), bytes, "{name}: the restored state re-encodes identically");
            let (ra, rb) = (run(&mut a, usize::MAX), run(&mut b, usize::MAX));
            assert_eq!(ra, rb, "{name}");
            assert_eq!(a.metrics(), b.metrics(), "{name}");
            assert_eq!(a.save_state(), b.save_state(), "{name}");
        }
    }

    #[test]
    fn states_of_other_scenarios_and_damaged_bytes_are_errors() {
        let park = scenarios::preset("park-lb").unwrap();
        let mut a = Simulator::new(&park).unwrap();
        a.reset(3);
        run(&mut a, 50);
        let bytes = a.save_state();
        let mut other = Simulator::new(&scenarios::preset("seed-case").unwrap()).unwrap();
        other.reset(3);
        let before = other.save_state();
        let e = other.load_state(&bytes).unwrap_err().to_string();
        assert!(e.contains("a scenario with 1 resources, this one has 3"), "{e}");
        assert_eq!(other.save_state(), before, "a refused state changes nothing");
        let mut b = Simulator::new(&park).unwrap();
        assert!(b.load_state(&bytes[..bytes.len() / 2]).unwrap_err().to_string().contains("does not decode"));
        assert!(b.load_state(&[]).is_err());
        // Single-byte corruptions decode to an error or to a state within the checked bounds,
        // never a panic while loading (a checkpoint's checksum catches the damage before this:
        // the checks here keep indices in range, not the state meaningful).
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x5a;
            let _ = Simulator::new(&park).unwrap().load_state(&damaged);
        }
    }
}
