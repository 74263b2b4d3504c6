//! The openb node list and pod list (`cluster_env::openb`): the input is a node list, or a node
//! list and a pod list separated by a NUL byte. Both parsers see every input; when both lists
//! parse, the pods are turned into trace tasks. Any input is a typed error or a checked result;
//! never a panic.
#![no_main]

use cluster_env::openb::{NodeList, PodList, TraceOptions, pods_to_tasks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (node_text, pod_text) = text.split_once('\0').unwrap_or((text, text));
    let nodes = NodeList::parse(node_text, "nodes.csv");
    let pods = PodList::parse(pod_text, "pods.csv");
    if let (Ok(nodes), Ok(pods)) = (nodes, pods) {
        let _ = pods_to_tasks(&pods, &nodes, &TraceOptions::default());
    }
});
