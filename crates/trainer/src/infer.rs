//! `cluster-rl infer`: an exported policy serving placement decisions as JSON lines.
//!
//! Each line of stdin is one request; each gets exactly one line on stdout, in order:
//!
//! ```text
//! {"id": 7, "observation": [..obs_dim numbers..], "mask": [..n bools..]}   (mask optional)
//! {"id": 8, "state": {"nodes": [{"id": 0, "capacity": [..], "usage": [..], "speed": 1.0,
//!     "up": true, "queued_tasks": 0, "queued_work": 0.0, "running_tasks": 1,
//!     "running_work": 40.0}, ..], "task": {"id": 3, "priority": 1.0, "demands": [..], "size": 12.0}}}
//! → {"id": 7, "node": 4, "q_values": [..n numbers..]}
//! → {"id": 8, "error": "state: node 12: id out of range, expected 0..=9"}
//! ```
//!
//! `id` is optional and echoed back as given (any JSON value). A bad request — malformed JSON,
//! a missing or unknown field, a wrong length, a non-finite number, an impossible cluster —
//! gets an `error` reply naming the problem, and the next line is served normally.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use policy::{ClusterState, Policy};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::InferArgs;

/// One request line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Echoed back.
    #[serde(default)]
    id: Option<Value>,
    /// A raw observation (`obs_dim` numbers)...
    #[serde(default)]
    observation: Option<Vec<f64>>,
    /// ... with its valid nodes (default: every node).
    #[serde(default)]
    mask: Option<Vec<bool>>,
    /// Or the cluster and the task to place.
    #[serde(default)]
    state: Option<ClusterState>,
}

/// Reusable buffers of the server, so a raw-observation request allocates only for parsing.
struct Server {
    policy: Policy,
    obs: Vec<f32>,
    mask: Vec<bool>,
}

impl Server {
    /// The reply to one line: `{"id", "node", "q_values"}` or `{"id", "error"}`.
    fn answer(&mut self, line: &str) -> Value {
        let request: Request = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                // Echo the id when the line is JSON with an `id` but a bad request otherwise.
                let id = serde_json::from_str::<Value>(line).ok().and_then(|v| v.get("id").cloned());
                let kind = if e.is_syntax() || e.is_eof() { "malformed JSON" } else { "bad request" };
                return reply_error(id, format!("{kind}: {e}"));
            }
        };
        let id = request.id.clone();
        match self.decide(request) {
            Ok((node, q)) => {
                let q: Vec<Value> = q.iter().map(|&x| json!(x)).collect();
                match id {
                    Some(id) => json!({"id": id, "node": node, "q_values": q}),
                    None => json!({"node": node, "q_values": q}),
                }
            }
            Err(message) => reply_error(id, message),
        }
    }

    fn decide(&mut self, request: Request) -> Result<(usize, Vec<f32>), String> {
        match (request.observation, request.state) {
            (Some(_), Some(_)) => Err("give either `observation` or `state`, not both".into()),
            (None, None) => Err("missing field: give `observation` (with optional `mask`) or `state`".into()),
            (None, Some(state)) => {
                if request.mask.is_some() {
                    return Err("`mask` goes with `observation`; a `state` request derives its own".into());
                }
                let (node, q) = self.policy.act_state(&state).map_err(|e| format!("state: {e}"))?;
                Ok((node, q.to_vec()))
            }
            (Some(obs), None) => {
                let (d, n) = (self.policy.obs_dim(), self.policy.n_actions());
                if obs.len() != d {
                    return Err(format!("observation: has {} values, this policy expects {d}", obs.len()));
                }
                self.obs.clear();
                self.obs.extend(obs.iter().map(|&x| x as f32));
                match request.mask {
                    Some(m) if m.len() != n => {
                        return Err(format!("mask: has {} values, this policy has {n} nodes", m.len()));
                    }
                    Some(m) => self.mask = m,
                    None => self.mask.iter_mut().for_each(|m| *m = true),
                }
                let node = self.policy.act(&self.obs, &self.mask).map_err(|e| format!("observation: {e}"))?;
                let q = self.policy.q_values(&self.obs).map_err(|e| format!("observation: {e}"))?;
                Ok((node, q.to_vec()))
            }
        }
    }
}

fn reply_error(id: Option<Value>, message: String) -> Value {
    match id {
        Some(id) => json!({"id": id, "error": message}),
        None => json!({"error": message}),
    }
}

/// Serves every line of `input`, writing one reply line per non-empty request line to `output`
/// (flushed after each, so an interactive client gets its answer at once).
fn serve(server: &mut Server, input: impl BufRead, mut output: impl Write) -> Result<u64> {
    let mut served = 0;
    for (k, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("stdin: reading line {}", k + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = server.answer(&line);
        writeln!(output, "{reply}").context("stdout: writing a reply")?;
        output.flush().context("stdout: flushing a reply")?;
        served += 1;
    }
    Ok(served)
}

/// `cluster-rl infer`.
///
/// # Errors
/// A missing or incomplete export directory (at start-up), or a closed stdout.
pub fn run(args: &InferArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy).context("--policy")?;
    let meta = policy.meta();
    eprintln!(
        "cluster-rl infer: serving {} ({}, scenario {}, {} nodes); one JSON request per line on stdin",
        args.policy.display(),
        meta.network,
        meta.scenario,
        policy.n_actions()
    );
    let n = policy.n_actions();
    let d = policy.obs_dim();
    let mut server = Server { policy, obs: Vec::with_capacity(d), mask: vec![true; n] };
    let stdin = std::io::stdin();
    let served = serve(&mut server, stdin.lock(), std::io::stdout().lock())?;
    eprintln!("cluster-rl infer: served {served} requests");
    Ok(ExitCode::SUCCESS)
}
