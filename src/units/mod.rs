//! The units every part of upshift shares and the simulator shares with it: Kubernetes
//! versions (a minor such as `1.31`, read from any version string), resource
//! quantities, and the clock a rollout reads. Nothing here knows of the rest of the
//! crate; everything else may use it.

pub mod quantity;
pub mod time;
pub mod version;

pub use time::{ClusterClock, Now, Timestamp};
pub use version::Minor;
