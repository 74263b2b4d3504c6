//! placeholder until the DQN crate lands
