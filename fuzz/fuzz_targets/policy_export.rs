//! `policy.json` + `policy.safetensors` (`policy::Export::from_bytes`, what `Export::read` and
//! `Policy::load` parse): the input is a little-endian u32 length, `policy.json` of that length
//! (clamped to what is there), then `policy.safetensors`. An export that reads is made a policy
//! that acts once. Any input is a typed error or a working policy; never a panic.
//! `fuzz/make_policy_seeds.py` writes the seeds (the shipped metadata with tiny networks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{Export, Policy};

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else { return };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (json, weights) = rest.split_at(len);
    let Ok(export) = Export::from_bytes(json, weights) else { return };
    let Ok(mut policy) = Policy::from_export(export) else { return };
    let obs = vec![0.0f32; policy.obs_dim()];
    let mask = vec![true; policy.n_actions()];
    let _ = policy.q_values(&obs);
    let _ = policy.act(&obs, &mask);
});
