//! CSV trace replay: the file format and its parser. A trace lists tasks in arrival order;
//! [`crate::workload`] replays it instead of generating tasks.
//!
//! Format: a header `arrival,work,<one column per resource>,priority[,tenant]`, then one task per
//! row, arrivals non-decreasing; `#` starts a comment line, blank lines are skipped. Errors name
//! the file, the 1-based line and column, and what would be valid.

use std::path::{Path, PathBuf};

use crate::config::{ScenarioConfig, WorkloadConfig};
use crate::error::ClusterError;

/// A trace row, already validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TraceRow {
    pub arrival: f64,
    pub work: f64,
    pub demand: Vec<f64>,
    pub class: u16,
    pub tenant: u16,
}

/// Reads a CSV trace: a header `arrival,work,<resource...>,priority[,tenant]`, then one task per
/// row in non-decreasing arrival order. Errors name the line and column of bad data.
pub(crate) fn read_trace(path: &Path, cfg: &ScenarioConfig) -> Result<Vec<TraceRow>, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|e| trace_err(path, 0, 0, format!("cannot read: {e}")))?;
    parse_trace(&text, path, cfg)
}

/// Checks a CSV trace's `text` as a scenario replaying it does (the header against `cfg`'s
/// resources; each row's numbers, arrival order, priority class and tenant; that each task fits
/// a node it may use) and returns its number of tasks. Errors name the line and column, with
/// the file as `trace.csv`.
///
/// # Errors
/// [`ClusterError::Trace`] for the first bad header or row, or a trace without tasks.
pub fn check_trace(text: &str, cfg: &ScenarioConfig) -> Result<usize, ClusterError> {
    parse_trace(text, Path::new("trace.csv"), cfg).map(|rows| rows.len())
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
            // Point at the first resource that no allowed node can hold, if there is one.
            let col = (0..r).find(|&k| allowed.iter().all(|&n| demand[k] > caps[n][k])).map_or(3, |k| 3 + k);
            return Err(trace_err(
                path,
                line_no,
                col,
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

#[cfg(test)]
mod tests {
    //! Trace errors name line and column.

    use std::path::Path;

    use super::*;
    use crate::config::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::engine::tests::{temp_file, trace_scenario};
    use crate::workload::{TaskDraw, Workload};

    /// Two nodes (cpu/mem 4/8 and 8/4), two priority classes, tenant 1 restricted to node 0.
    fn trace_cfg(name: &str, text: &str) -> ScenarioConfig {
        let mut cfg = trace_scenario(name, &["cpu", "mem"], &[(&[4.0, 8.0], 1.0), (&[8.0, 4.0], 1.0)], text);
        cfg.workload.priorities = vec![
            PriorityClass { name: "low".into(), weight: 1.0, prob: 0.5 },
            PriorityClass { name: "high".into(), weight: 2.0, prob: 0.5 },
        ];
        cfg.workload.tenants = vec![
            TenantConfig { name: "any".into(), prob: 0.5, nodes: None },
            TenantConfig { name: "pinned".into(), prob: 0.5, nodes: Some(vec![0]) },
        ];
        cfg
    }

    /// The `(line, column)` of the trace error that `text` produces, checking the message too.
    fn trace_error(text: &str, message_part: &str) -> (usize, usize) {
        let cfg = trace_cfg("unused.csv", "arrival,work,cpu,mem,priority\n0,1,1,1,0\n");
        match parse_trace(text, Path::new("t.csv"), &cfg) {
            Err(ClusterError::Trace { path, line, column, message }) => {
                assert_eq!(path, Path::new("t.csv"));
                assert!(message.contains(message_part), "{message:?} lacks {message_part:?}");
                (line, column)
            }
            other => panic!("expected a trace error, got {other:?}"),
        }
    }

    const HEADER: &str = "arrival,work,cpu,mem,priority\n";

    #[test]
    fn valid_trace_is_read_with_tenants_comments_and_blank_lines() {
        let text = "# a comment\n\narrival, work, cpu, mem, priority, tenant\n0,5,1,2,1,0\n\n2.5,1,4,8,0,1\n";
        let cfg = trace_cfg("ok.csv", text);
        let rows = read_trace(cfg.workload.trace.as_ref().unwrap(), &cfg).unwrap();
        assert_eq!(
            rows,
            [
                TraceRow { arrival: 0.0, work: 5.0, demand: vec![1.0, 2.0], class: 1, tenant: 0 },
                TraceRow { arrival: 2.5, work: 1.0, demand: vec![4.0, 8.0], class: 0, tenant: 1 },
            ]
        );
        let wl = Workload::new(&cfg).unwrap();
        assert_eq!(wl.n_tasks, 2);
        assert_eq!(wl.mean_work(), 3.0);
        let mut g = wl.start(ChaCha8Rng::seed_from_u64(0));
        let mut d = [0.0; 2];
        assert_eq!(wl.next(&mut g, &mut d), Some(TaskDraw { arrival: 0.0, work: 5.0, class: 1, tenant: 0 }));
        assert_eq!(d, [1.0, 2.0]);
        assert_eq!(wl.next(&mut g, &mut d), Some(TaskDraw { arrival: 2.5, work: 1.0, class: 0, tenant: 1 }));
        assert_eq!(wl.next(&mut g, &mut d), None);
    }

    #[test]
    fn trace_errors_name_line_and_column() {
        // A number that does not parse: line 3, column 2 (work).
        assert_eq!(trace_error(&format!("{HEADER}0,1,1,1,0\n1.0,abc,1,1,0\n"), "\"abc\" in column \"work\""), (3, 2));
        // Negative demand: column 4 (mem).
        assert_eq!(trace_error(&format!("{HEADER}0,1,1,-1,0\n"), "must be finite and >= 0"), (2, 4));
        // Zero work: column 2.
        assert_eq!(trace_error(&format!("{HEADER}0,0,1,1,0\n"), "work 0 must be > 0"), (2, 2));
        // Wrong number of columns: a whole-line problem, column 0.
        assert_eq!(trace_error(&format!("{HEADER}0,1,1,1,0\n0,1,1,0\n"), "expected 5 columns, found 4"), (3, 0));
        // Arrivals out of order: column 1 of the later row; comment lines still count.
        assert_eq!(
            trace_error(&format!("{HEADER}1,1,1,1,0\n# late\n0.5,1,1,1,0\n"), "earlier than the previous row's 1"),
            (4, 1)
        );
        // Priority index out of range (two classes): column 5; a float index is not an index.
        assert_eq!(trace_error(&format!("{HEADER}0,1,1,1,2\n"), "valid priority class index"), (2, 5));
        assert_eq!(trace_error(&format!("{HEADER}0,1,1,1,1.0\n"), "valid priority class index"), (2, 5));
        // Tenant index out of range (two tenants): column 6.
        assert_eq!(trace_error("arrival,work,cpu,mem,priority,tenant\n0,1,1,1,0,2\n", "valid tenant index"), (2, 6));
        // Wrong header: the first differing column, on the header's line (after a comment).
        assert_eq!(
            trace_error("# trace\narrival,size,cpu,mem,priority\n0,1,1,1,0\n", "header column 2 is \"size\""),
            (2, 2)
        );
        assert_eq!(trace_error("arrival,work,cpu,priority\n0,1,1,0\n", "expected \"mem\""), (1, 4));
        // An extra header column other than `tenant`.
        assert_eq!(trace_error("arrival,work,cpu,mem,priority,user\n0,1,1,1,0,0\n", "extra header"), (1, 6));
        // A demand that fits no node (cpu 8 and mem 8 never together): column 3.
        assert_eq!(trace_error(&format!("{HEADER}0,1,8,8,0\n"), "fits no node"), (2, 3));
        // A memory demand larger than every node's: column 4 (mem) is the one to fix.
        assert_eq!(trace_error(&format!("{HEADER}0,1,1,1000,0\n"), "fits no node"), (2, 4));
        // Fits node 1 (cpu 8, mem 4) but the pinned tenant may only use node 0.
        assert_eq!(
            trace_error("arrival,work,cpu,mem,priority,tenant\n0,1,1,1,0,0\n0,1,8,4,0,1\n", "fits no node"),
            (3, 3)
        );
        // Empty file and header-only file.
        assert_eq!(trace_error("", "empty trace"), (1, 0));
        assert_eq!(trace_error(&format!("# c\n{HEADER}"), "no tasks"), (2, 0));
    }

    #[test]
    fn trace_errors_reach_the_simulator_and_name_the_file() {
        let cfg = trace_cfg("bad.csv", &format!("{HEADER}0,1,1,1,0\n0,x,1,1,0\n"));
        let path = cfg.workload.trace.clone().unwrap();
        let err = crate::Simulator::new(&cfg).unwrap_err();
        assert_eq!(
            err,
            ClusterError::Trace {
                path: path.clone(),
                line: 3,
                column: 2,
                message: "\"x\" in column \"work\" is not a number".into()
            }
        );
        assert!(err.to_string().starts_with(&format!("trace {}:3:2: ", path.display())), "{err}");
        // A missing file: line 0, column 0.
        let mut missing = cfg.clone();
        let gone = temp_file("gone.csv", "");
        std::fs::remove_file(&gone).unwrap();
        missing.workload.trace = Some(gone.clone());
        match crate::ClusterEnv::new(&missing).unwrap_err() {
            ClusterError::Trace { path, line: 0, column: 0, message } => {
                assert_eq!(path, gone);
                assert!(message.starts_with("cannot read"), "{message}");
            }
            other => panic!("expected a trace error, got {other:?}"),
        }
    }

    /// `check_trace` (the fuzz target's entry) counts the tasks of a valid trace and gives the
    /// parser's errors, naming `trace.csv`.
    #[test]
    fn check_trace_counts_tasks_and_names_the_file() {
        let cfg = crate::scenarios::park_lb();
        assert_eq!(check_trace("arrival,work,slot,priority\n0,10,1,0\n5,20,1,0\n", &cfg).unwrap(), 2);
        let e = check_trace("arrival,work,slot,priority\n0,10,1,1\n", &cfg).unwrap_err();
        assert!(
            matches!(&e, ClusterError::Trace { path, line: 2, column: 4, .. } if path == Path::new("trace.csv")),
            "{e:?}"
        );
        assert!(check_trace("", &cfg).is_err());
    }
}
