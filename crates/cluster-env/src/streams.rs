//! Every random stream of the simulator, in one place.
//!
//! All randomness of an episode derives from one `u64` seed: a stream is
//! `ChaCha8Rng::seed_from_u64(seed)` with a ChaCha stream id ([`Stream::id`]). Different ids give
//! independent sequences for the same seed, so each purpose gets its own id and no purpose can
//! draw another's numbers: the workload is the same whatever the policy draws or however many
//! failures happen, and a random policy never replays a node's failure clock.
//!
//! | purpose | id | drawn by |
//! |---|---|---|
//! | [`Stream::EpisodeSeeds`] | `0` | [`crate::ClusterEnv`]: the seeds of the episodes after a `reset(Some(seed))` |
//! | [`Stream::Workload`] | `1` | the generated workload: arrivals, sizes, demands, priority classes, tenants |
//! | [`Stream::ClusterSize`] | `2` | the node count of each group whose count is a range, drawn at the episode's start |
//! | [`Stream::Policy`] | `101` | the randomised baselines (`random`, `power-of-two`) |
//! | [`Stream::NodeFailures`]`(i)` | `2^32 + i` | node `i`'s random failure and repair times |
//!
//! # Derivation
//! An id is a purpose tag in the high 32 bits and an index in the low 32 bits. Tag 0 holds the
//! purposes that need one stream each, told apart by their low bits (0, 1 and 101: the ids
//! they always had; 2 is new with clusters drawn per episode, so workloads and the baselines' draws stay what they were); each indexed
//! purpose has a tag of its own (node failures: 1) and puts its index in the low bits. An index
//! is a `u32`, so it can never reach into the tag, and two different `(purpose, index)` pairs
//! never share an id. Node indices fit: a scenario has at most [`crate::MAX_NODES`] nodes.
//!
//! (Before this module, node `i`'s failures used id `3 + i`, so node 98's clock was the
//! policies' stream 101.)

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Tag (high 32 bits of the id) of the per-node failure streams.
const TAG_NODE_FAILURES: u64 = 1;

// Node indices are stream indices: every valid node index must fit the 32 low bits.
const _: () = assert!(crate::config::MAX_NODES as u64 <= u32::MAX as u64);

/// What a random stream is for (see the module documentation for the table of ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The episode seeds a [`crate::ClusterEnv`] draws for `reset(None)`.
    EpisodeSeeds,
    /// The generated workload.
    Workload,
    /// The randomised baseline policies.
    Policy,
    /// The node counts of a cluster drawn per episode (groups whose count is a range). Its own
    /// stream: drawing the cluster changes no other purpose's numbers, so a fixed-size scenario's
    /// episodes are what they were, and a drawn cluster's workload is the same workload.
    ClusterSize,
    /// Node `i`'s random failures and repairs.
    NodeFailures(u32),
}

impl Stream {
    /// The ChaCha stream id: the purpose's tag in the high 32 bits, its index in the low ones.
    pub(crate) const fn id(self) -> u64 {
        match self {
            Stream::EpisodeSeeds => 0,
            Stream::Workload => 1,
            Stream::Policy => 101,
            Stream::ClusterSize => 2,
            Stream::NodeFailures(node) => (TAG_NODE_FAILURES << 32) | node as u64,
        }
    }

    /// The generator of this stream for `seed`, at its first number.
    pub(crate) fn rng(self, seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(self.id());
        rng
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::RngCore;

    use super::*;

    /// Every stream of a 1000-node episode: the singletons and one failure stream per node.
    fn all_streams(nodes: u32) -> Vec<Stream> {
        let mut all = vec![Stream::EpisodeSeeds, Stream::Workload, Stream::Policy, Stream::ClusterSize];
        all.extend((0..nodes).map(Stream::NodeFailures));
        all
    }

    /// No two purposes or indices share an id, and their sequences differ: with the old
    /// `3 + node` failure ids, node 98 drew the policies' numbers.
    #[test]
    fn streams_of_different_purposes_and_nodes_never_coincide() {
        let streams = all_streams(1000);
        let mut ids = HashMap::new();
        for s in &streams {
            if let Some(other) = ids.insert(s.id(), *s) {
                panic!("{s:?} and {other:?} share stream id {}", s.id());
            }
        }
        let mut first = HashMap::new();
        for s in &streams {
            let draw = s.rng(12345).next_u64();
            if let Some(other) = first.insert(draw, *s) {
                panic!("{s:?} and {other:?} draw the same first number");
            }
        }
        // Even the largest index stays in the low bits: it cannot reach another tag.
        assert_eq!(Stream::NodeFailures(u32::MAX).id() >> 32, TAG_NODE_FAILURES);
    }

    /// The workload and episode-seed streams keep their ids, so every generated workload (and
    /// thus every deterministic policy's result) is what it was before this module.
    #[test]
    fn workload_and_seed_streams_keep_their_ids() {
        assert_eq!(Stream::Workload.id(), 1);
        assert_eq!(Stream::EpisodeSeeds.rng(9).next_u64(), ChaCha8Rng::seed_from_u64(9).next_u64());
        let mut old = ChaCha8Rng::seed_from_u64(9);
        old.set_stream(1);
        assert_eq!(Stream::Workload.rng(9).next_u64(), old.next_u64());
    }
}
