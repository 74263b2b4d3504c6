//! Cross-crate integration tests, as one test binary (one link against burn instead of one per
//! file, which matters on a 2-core machine): each module is one area.

mod dqn_cartpole;
mod dqn_park_lb;
mod park_lb;
mod policy_encoding;
mod scenarios_check_env;
mod simulator_properties;
mod vector_determinism;
