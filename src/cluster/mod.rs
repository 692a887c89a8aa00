//! Access to a Kubernetes cluster. Reading is [`ClusterReader`]: watches projected
//! into the compact model, and nothing that can write. The writes of a rollout live
//! in their own module and need a handle that a read-only cockpit never builds.

pub mod connect;
pub mod watch;

pub use connect::{ConnectError, Connection, connect};
pub use watch::ClusterReader;
