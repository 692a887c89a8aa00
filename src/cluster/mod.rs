//! Reading a cluster: connecting through a kubeconfig, and [`ClusterReader`] with its
//! paged lists and its watches projected into the compact model. Nothing here can
//! write; the writes of a rollout live in `rollout` and need a client of their own,
//! which a read-only cockpit never builds.

pub mod connect;
pub mod karpenter;
pub mod pod_detail;
pub mod reader;
pub mod retry;
pub mod watch;

pub use connect::{ConnectError, Connection, connect};
pub use reader::ClusterReader;
