//! `cluster-rl infer` request lines (`trainer::infer::serve_lines`), served by the two shipped
//! exports (park-lb, and seed-case with its tenants' allowed nodes). Any bytes get one JSON
//! reply per non-blank line (a decision or an error); never a panic.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use policy::{Export, Policy};

macro_rules! export {
    ($dir:literal) => {
        Export::from_bytes(
            include_bytes!(concat!("../../checkpoints/", $dir, "/policy.json")),
            include_bytes!(concat!("../../checkpoints/", $dir, "/policy.safetensors")),
        )
        .unwrap()
    };
}

/// The two policies, built once: a server keeps its policy from one request to the next.
fn policies() -> &'static Mutex<Vec<Policy>> {
    static POLICIES: OnceLock<Mutex<Vec<Policy>>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let exports = [export!("shipped-park-lb-export"), export!("shipped-seed-case-export")];
        Mutex::new(exports.into_iter().map(|e| Policy::from_export(e).unwrap()).collect())
    })
}

/// The line limit of the fuzzed server: small, so over-long lines are exercised too.
const MAX_LINE_BYTES: usize = 2048;

fuzz_target!(|data: &[u8]| {
    for policy in policies().lock().unwrap().iter_mut() {
        let mut out = Vec::new();
        let served = trainer::infer::serve_lines(policy, data, &mut out, MAX_LINE_BYTES).expect("in-memory I/O");
        let text = std::str::from_utf8(&out).expect("replies are UTF-8");
        assert_eq!(text.lines().count() as u64, served);
        for line in text.lines() {
            let reply: serde_json::Value = serde_json::from_str(line).expect("each reply is JSON");
            assert!(reply.get("node").is_some() != reply.get("error").is_some(), "{line}");
        }
    }
});
