//! The cockpit without a screen: the same model and signals, for scripts, CI and
//! benchmarks. `watch` prints the signals as JSON lines; `drive` is the lead's
//! cockpit on stdin and stdout, and its `feed_health` keeps a model that tells a
//! drive the cluster's health.

pub mod drive;
pub mod watch;
