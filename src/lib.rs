//! upshift: a terminal cockpit for zero-downtime Kubernetes version upgrades of EKS
//! clusters, with a built-in simulated EKS cluster for rehearsals and tests.

pub mod app;
pub mod cli;
pub mod cloud;
pub mod cluster;
pub mod cockpit;
pub mod headless;
pub mod model;
pub mod preflight;
pub mod rollout;
pub mod sim;
pub mod tui;
pub mod ui;
