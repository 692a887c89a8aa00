//! upshift: a terminal cockpit for zero-downtime Kubernetes version upgrades of EKS
//! clusters, with a built-in simulated EKS cluster for rehearsals and tests.
//!
//! The modules depend on each other one way (docs/architecture.md draws it, and
//! `tests/architecture.rs` holds the code to it): the cockpit's loop (`app`) and the
//! screenless `headless` above `ui`, above the cockpit's state (`cockpit`), above the
//! cluster's reading side (`cluster`) and plain data (`model`), above `units`. The
//! rollout (`rollout`) uses `preflight`, `cloud`, `cluster` and `model`. The
//! simulator (`sim`) uses nothing but `units`.

pub mod app;
pub mod campaign;
pub mod cloud;
pub mod cluster;
pub mod cockpit;
pub mod headless;
pub mod model;
pub mod notify;
pub mod preflight;
pub mod replay;
pub mod report;
pub mod rollout;
pub mod sim;
pub mod timeline;
pub mod tui;
pub mod ui;
pub mod units;
