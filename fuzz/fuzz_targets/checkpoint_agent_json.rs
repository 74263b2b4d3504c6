//! A checkpoint's `agent.json` (`dqn::save::check_agent_json`, the checks `Agent::load` runs
//! before it builds anything). Any bytes are a typed error or a validated file; never a panic,
//! and no size in the file is allocated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dqn::save::check_agent_json(data);
});
