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
//! a missing or unknown field, a wrong length, a non-finite number, an impossible cluster, bytes
//! that are not UTF-8, a line longer than `--max-line-bytes` — gets an `error` reply naming the
//! problem, and the next line is served normally. Lines are read in bounded pieces
//! ([`read_line`]), so an over-long line costs no more memory than the limit.

use std::io::{self, BufRead, Write};
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
struct Server<'p> {
    policy: &'p mut Policy,
    obs: Vec<f32>,
    mask: Vec<bool>,
}

impl Server<'_> {
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
                // An MLP takes exactly its trained length; a node-scoring policy any whole number
                // of node rows and the task row.
                let n = self.policy.n_nodes_of(obs.len()).map_err(|e| format!("observation: {e}"))?;
                self.obs.clear();
                self.obs.extend(obs.iter().map(|&x| x as f32));
                match request.mask {
                    Some(m) if m.len() != n => {
                        return Err(format!("mask: has {} values, this policy has {n} nodes", m.len()));
                    }
                    Some(m) => self.mask = m,
                    None => {
                        self.mask.clear();
                        self.mask.resize(n, true);
                    }
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

/// The default of `--max-line-bytes`: 1 MiB. A `state` request for a 64-node cluster is about
/// 10 KiB, so this leaves room for clusters of thousands of nodes while bounding what one line
/// can make the server hold.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 1 << 20;

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// A whole line, in the buffer without its line ending.
    Whole,
    /// A line of `len` bytes, more than the limit: it was read and dropped piece by piece, and
    /// the buffer holds nothing useful.
    TooLong {
        /// The line's length without its line ending.
        len: u64,
    },
}

/// Reads the next line of `input` into `buf` (cleared first) without its `\n` or `\r\n`.
/// `None` at the end of input; a last line without a newline still counts.
///
/// Reads with `fill_buf` / `consume`, so `buf` never grows past `max` bytes: once a line
/// exceeds `max`, the rest of it is skipped as it arrives, however long it is (`BufRead::lines`
/// would first collect it whole, so one endless line could exhaust memory).
///
/// # Errors
/// An I/O error of `input` (not a content error: any bytes are accepted here).
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<Line>> {
    buf.clear();
    let mut len = 0u64;
    let mut started = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(started.then(|| finish_line(buf, len, max)));
        }
        started = true;
        let newline = chunk.iter().position(|&b| b == b'\n');
        let piece = &chunk[..newline.unwrap_or(chunk.len())];
        len += piece.len() as u64;
        // Keep bytes only while the line still fits: past the limit it is dropped anyway.
        if len <= max as u64 {
            buf.extend_from_slice(piece);
        }
        let used = piece.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_some() {
            return Ok(Some(finish_line(buf, len, max)));
        }
    }
}

/// The verdict on a line of `len` bytes (everything before its `\n`, so a CRLF line's `\r`
/// counts) whose kept part is `buf`; a whole line loses its `\r`, as `BufRead::lines` does.
fn finish_line(buf: &mut Vec<u8>, len: u64, max: usize) -> Line {
    if len > max as u64 {
        buf.clear();
        return Line::TooLong { len };
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Line::Whole
}

/// Serves every line of `input`, writing one reply line per non-empty request line to `output`
/// (flushed after each, so an interactive client gets its answer at once). A line longer than
/// `max_line_bytes` or not in UTF-8 gets an error reply; only an I/O error ends the loop.
fn serve(
    server: &mut Server<'_>,
    mut input: impl BufRead,
    mut output: impl Write,
    max_line_bytes: usize,
) -> Result<u64> {
    let mut served = 0;
    let mut buf = Vec::new();
    let mut number = 0u64;
    while let Some(line) = read_line(&mut input, &mut buf, max_line_bytes)
        .with_context(|| format!("stdin: reading line {}", number + 1))?
    {
        number += 1;
        let reply = match line {
            Line::TooLong { len } => reply_error(
                None,
                format!(
                    "line {number}: {len} bytes, more than the limit of {max_line_bytes} bytes per request \
                     (--max-line-bytes); the line was skipped"
                ),
            ),
            Line::Whole => match std::str::from_utf8(&buf) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => server.answer(text),
                Err(e) => reply_error(
                    None,
                    format!(
                        "line {number}: not valid UTF-8 (bad byte 0x{:02x} at byte {}); a request is one JSON \
                         object in UTF-8",
                        buf[e.valid_up_to()],
                        e.valid_up_to()
                    ),
                ),
            },
        };
        writeln!(output, "{reply}").context("stdout: writing a reply")?;
        output.flush().context("stdout: flushing a reply")?;
        served += 1;
    }
    Ok(served)
}

/// Serves every request line of `input` with `policy`, one reply line each on `output`, as
/// `cluster-rl infer` serves stdin: a bad request (malformed JSON, a wrong field, bytes that are
/// not UTF-8, a line over `max_line_bytes`) gets an `error` reply and the next line is served.
/// Returns the number of replies.
///
/// # Errors
/// Only an I/O error of `input` or `output`.
pub fn serve_lines(policy: &mut Policy, input: impl BufRead, output: impl Write, max_line_bytes: usize) -> Result<u64> {
    let n = policy.n_actions();
    let d = policy.obs_dim();
    let mut server = Server { policy, obs: Vec::with_capacity(d), mask: vec![true; n] };
    serve(&mut server, input, output, max_line_bytes)
}

/// `cluster-rl infer`.
///
/// # Errors
/// A missing or incomplete export directory (at start-up), or a closed stdout.
pub fn run(args: &InferArgs) -> Result<ExitCode> {
    let mut policy = Policy::load(&args.policy).context("--policy")?;
    let meta = policy.meta();
    eprintln!(
        "cluster-rl infer: serving {} ({}, scenario {}, {} nodes); one JSON request per line on stdin",
        args.policy.display(),
        meta.network,
        meta.scenario,
        policy.n_actions()
    );
    // The flag's range (clap) keeps it at most 1 GiB, so it fits a usize everywhere.
    let max_line_bytes = usize::try_from(args.max_line_bytes).context("--max-line-bytes")?;
    let stdin = std::io::stdin();
    let served = serve_lines(&mut policy, stdin.lock(), std::io::stdout().lock(), max_line_bytes)?;
    eprintln!("cluster-rl infer: served {served} requests");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    const SHIPPED_EXPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../checkpoints/shipped-park-lb-export");
    const GOOD: &[u8] = br#"{"id": 1, "observation": [0,0,0,0,0,0,0,0,0,0,100]}"#;

    /// The replies `serve` writes for `input`, parsed.
    fn replies(input: &[u8], max: usize) -> Vec<Value> {
        let mut out = Vec::new();
        serve_lines(&mut Policy::load(SHIPPED_EXPORT).unwrap(), input, &mut out, max).unwrap();
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn a_line_that_is_not_utf8_gets_an_error_and_the_next_is_served() {
        let input = [GOOD, b"\n\xff\xfe\n", GOOD, b"\n"].concat();
        let r = replies(&input, 1 << 20);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(r[0]["id"], 1);
        let error = r[1]["error"].as_str().unwrap();
        assert!(error.contains("line 2: not valid UTF-8 (bad byte 0xff at byte 0)"), "{error}");
        assert_eq!(r[2]["node"], r[0]["node"]);
    }

    #[test]
    fn an_overlong_line_gets_an_error_and_the_next_is_served() {
        // The limit is on the bytes before the newline: GOOD itself fits exactly.
        let max = GOOD.len();
        let long = vec![b' '; max + 1];
        let input = [GOOD, b"\n", &long, b"\n", GOOD, b"\r\n", GOOD].concat();
        let r = replies(&input, max);
        assert_eq!(r.len(), 4, "{r:?}");
        let error = r[1]["error"].as_str().unwrap();
        assert!(error.contains(&format!("line 2: {} bytes, more than the limit of {max} bytes", max + 1)), "{error}");
        // A CRLF line's `\r` counts towards the limit; the last line needs no newline.
        assert!(r[2]["error"].as_str().unwrap().contains("line 3:"), "{}", r[2]);
        assert_eq!(r[3]["node"], r[0]["node"]);
    }

    #[test]
    fn an_overlong_line_is_dropped_as_it_arrives_not_buffered() {
        // 64 MiB without a newline, then a short line: the buffer never outgrows the limit.
        let huge = io::repeat(b'x').take(64 << 20);
        let mut input = io::BufReader::new(huge.chain(&b"\nshort\r\n"[..]));
        let mut buf = Vec::new();
        let first = read_line(&mut input, &mut buf, 1024).unwrap();
        assert_eq!(first, Some(Line::TooLong { len: 64 << 20 }));
        assert!(buf.capacity() <= 1024 + 8192, "the buffer grew to {} bytes", buf.capacity());
        assert_eq!(read_line(&mut input, &mut buf, 1024).unwrap(), Some(Line::Whole));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut input, &mut buf, 1024).unwrap(), None);
    }
}
