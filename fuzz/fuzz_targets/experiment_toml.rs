//! Experiment files with `--set` overrides (`trainer::config`): the input is the TOML text, then
//! `--set` values, separated by NUL bytes. Any input is a typed error or an experiment whose
//! resolved TOML loads back to the same experiment; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainer::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.split('\0');
    let toml = parts.next().unwrap_or_default();
    let overrides: Vec<String> = parts.take(8).map(String::from).collect();
    if let Ok(exp) = config::from_str(toml, &overrides) {
        let resolved = exp.to_toml().expect("a resolved experiment is written as TOML");
        let again = config::from_str(&resolved, &[]).expect("the resolved TOML loads");
        assert_eq!(again, exp, "the resolved TOML loads back to the same experiment:\n{resolved}");
    }
    // `cluster-rl baselines --scenario <name> --set ...` resolves a preset with overrides alone.
    if !overrides.is_empty() {
        let _ = config::scenario(toml.trim(), &overrides);
    }
});
