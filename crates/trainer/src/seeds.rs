//! Episode seeds: which seeds training, validation and the held-out test use, and the one check
//! that keeps them apart.
//!
//! | range | seeds | set by |
//! |---|---|---|
//! | training | `seed..seed + num_envs`: the first episode of each env (later episodes derive seeds with bit 63 set) | `experiment.seed`, `training.num_envs` |
//! | validation | `2,000,000..2,000,000 + eval_episodes` (model selection, the `best` checkpoint) | `training.eval_episodes` |
//! | test | `seed_offset..seed_offset + episodes` (`eval`, `baselines`) | `evaluation.seed_offset`, `evaluation.episodes`, `--episodes`, `--seed-offset` |
//!
//! Every range lies below 2^63 ([`DERIVED_SEED_BIT`]), where the derived seeds of later training
//! episodes start, and the three are pairwise disjoint: a test seed that training or model
//! selection also saw would make the held-out score optimistic. [`SeedRanges::new`] is the only
//! place that checks this; config loading, `eval --episodes` and `baselines` all go through it.

use std::ops::Range;

use anyhow::{Result, bail};
use cluster_env::DERIVED_SEED_BIT;

/// First seed of the validation episodes the trainer evaluates on during training.
pub const VALIDATION_SEED: u64 = 2_000_000;

/// The most episodes one validation or test range may have. This bounds the seed lists built
/// from them (and the per-episode reports) before anything is allocated, and it reserves
/// `VALIDATION_SEED..VALIDATION_SEED + MAX_EPISODES` for validation, which `baselines` (that
/// knows no experiment) keeps clear of.
pub const MAX_EPISODES: u64 = 1_000_000;

/// One block of consecutive seeds and the settings that place it, named in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRange {
    /// `training`, `validation` or `test`.
    role: &'static str,
    /// What sets the range, with the values: `evaluation.seed_offset = 1000000, --episodes 5`.
    settings: String,
    seeds: Range<u64>,
}

impl SeedRange {
    /// `count` seeds from `first`, for `role`; `first_key` and `count_key` name the settings
    /// (`evaluation.seed_offset`, `--episodes`) in errors.
    ///
    /// # Errors
    /// No seeds, more than `max_count`, or a range that overflows or reaches 2^63.
    pub fn new(
        role: &'static str,
        first_key: &str,
        first: u64,
        count_key: &str,
        count: u64,
        max_count: u64,
    ) -> Result<Self> {
        if count == 0 {
            bail!("{count_key}: must be at least 1");
        }
        if count > max_count {
            bail!("{count_key}: {count} is more than {max_count}, the most allowed");
        }
        let settings = format!("{first_key} = {first}, {count_key} = {count}");
        match first.checked_add(count) {
            Some(end) if end <= DERIVED_SEED_BIT => Ok(Self { role, settings, seeds: first..end }),
            _ => bail!(
                "{settings}: the {role} seeds {first}..{first} + {count} do not fit below 2^63 = {DERIVED_SEED_BIT} \
                 (seeds from 2^63 up are the derived seeds of later training episodes); the last seed may be at \
                 most {}",
                DERIVED_SEED_BIT - 1
            ),
        }
    }

    /// The seeds.
    pub fn seeds(&self) -> Range<u64> {
        self.seeds.clone()
    }
}

/// The training, validation and test seeds of one evaluation, checked to be disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRanges {
    training: Option<SeedRange>,
    validation: SeedRange,
    test: SeedRange,
}

impl SeedRanges {
    /// The ranges of an experiment: `training` (absent for `baselines`, which trains nothing),
    /// `validation` and `test`.
    ///
    /// # Errors
    /// Two ranges that share a seed, naming both, their settings and the rule.
    pub fn new(training: Option<SeedRange>, validation: SeedRange, test: SeedRange) -> Result<Self> {
        let ranges = Self { training, validation, test };
        // Each range is checked against those before it, and an overlap is blamed on the later
        // one: validation seeds are fixed, training seeds move with `experiment.seed`, and the
        // test seeds with `seed_offset` and the episode count.
        let all: Vec<&SeedRange> =
            [&ranges.validation].into_iter().chain(ranges.training.as_ref()).chain([&ranges.test]).collect();
        for (i, later) in all.iter().enumerate() {
            for earlier in &all[..i] {
                let (a, b) = (&earlier.seeds, &later.seeds);
                if a.start < b.end && b.start < a.end {
                    bail!(
                        "{}: the {} seeds {}..{} overlap the {} seeds {}..{} ({}); training, validation and test \
                         seeds must be disjoint",
                        later.settings,
                        later.role,
                        b.start,
                        b.end,
                        earlier.role,
                        a.start,
                        a.end,
                        earlier.settings
                    );
                }
            }
        }
        Ok(ranges)
    }

    /// Test seeds for `baselines`: `count` from `first`, clear of every validation seed an
    /// experiment may use (`VALIDATION_SEED..VALIDATION_SEED + MAX_EPISODES`), so that a
    /// baselines report is on held-out seeds like an `eval` report.
    ///
    /// # Errors
    /// As [`SeedRange::new`] and [`SeedRanges::new`].
    pub fn held_out(first_key: &str, first: u64, count_key: &str, count: u64) -> Result<Self> {
        let validation = SeedRange {
            role: "validation",
            settings: format!("those any experiment's training.eval_episodes (at most {MAX_EPISODES}) may use"),
            seeds: VALIDATION_SEED..VALIDATION_SEED + MAX_EPISODES,
        };
        let test = SeedRange::new("test", first_key, first, count_key, count, MAX_EPISODES)?;
        Self::new(None, validation, test)
    }

    /// The held-out test seeds.
    pub fn test(&self) -> Range<u64> {
        self.test.seeds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(role: &'static str, first: u64, count: u64) -> SeedRange {
        SeedRange::new(role, "first", first, "count", count, MAX_EPISODES).unwrap()
    }

    #[test]
    fn disjoint_ranges_pass_and_any_overlap_is_named() {
        let ok = SeedRanges::new(
            Some(range("training", 1, 8)),
            range("validation", VALIDATION_SEED, 50),
            range("test", 1_000_000, 200),
        );
        assert_eq!(ok.unwrap().test(), 1_000_000..1_000_200);
        // Touching ends do not overlap.
        assert!(
            SeedRanges::new(Some(range("training", 1, 8)), range("validation", 9, 1), range("test", 10, 1)).is_ok()
        );
        let cases = [
            (
                range("training", VALIDATION_SEED, 1),
                range("test", 5, 1),
                "first = 2000000, count = 1: the training seeds 2000000..2000001 overlap the validation seeds 2000000..2000050",
            ),
            (
                range("training", 1, 1),
                range("test", 1_999_999, 2),
                "the test seeds 1999999..2000001 overlap the validation seeds",
            ),
            (
                range("training", 100, 4),
                range("test", 103, 1),
                "the test seeds 103..104 overlap the training seeds 100..104",
            ),
        ];
        for (training, test, want) in cases {
            let e = SeedRanges::new(Some(training), range("validation", VALIDATION_SEED, 50), test)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("must be disjoint"), "{e}");
        }
    }

    #[test]
    fn overflow_and_seeds_past_2_63_are_errors_not_empty_ranges() {
        let e = SeedRange::new("test", "--seed-offset", u64::MAX - 1, "--episodes", 5, MAX_EPISODES).unwrap_err();
        assert!(e.to_string().contains("--seed-offset = 18446744073709551614, --episodes = 5: the test seeds"), "{e}");
        assert!(e.to_string().contains("do not fit below 2^63"), "{e}");
        assert!(SeedRange::new("test", "o", DERIVED_SEED_BIT - 5, "n", 6, MAX_EPISODES).is_err());
        assert!(SeedRange::new("test", "o", DERIVED_SEED_BIT - 5, "n", 5, MAX_EPISODES).is_ok());
        let e = SeedRange::new("test", "o", 1, "--episodes", 0, MAX_EPISODES).unwrap_err();
        assert_eq!(e.to_string(), "--episodes: must be at least 1");
        let e = SeedRange::new("test", "o", 1, "--episodes", MAX_EPISODES + 1, MAX_EPISODES).unwrap_err();
        assert!(e.to_string().starts_with("--episodes: 1000001 is more than 1000000"), "{e}");
    }

    #[test]
    fn baselines_keep_clear_of_every_validation_seed() {
        assert_eq!(
            SeedRanges::held_out("--seed-offset", 1_000_000, "--episodes", 100).unwrap().test(),
            1_000_000..1_000_100
        );
        assert!(SeedRanges::held_out("--seed-offset", VALIDATION_SEED + MAX_EPISODES, "--episodes", 1).is_ok());
        let e = SeedRanges::held_out("--seed-offset", 2_500_000, "--episodes", 1).unwrap_err().to_string();
        assert!(e.contains("--seed-offset = 2500000, --episodes = 1: the test seeds 2500000..2500001 overlap the validation seeds 2000000..3000000"), "{e}");
    }
}
