//! What the tests share: a simulator on a free loopback port (`sim`), upshift's AWS
//! client on it (`cloud`), a typed look into the simulated world where a test checks
//! what the cluster holds (`inspect`), a step's and a drain's context on a journal of
//! their own (`steps`), journal checks (`journal`), the `upshift` binary with its log
//! in a temporary directory (`bin`), kubectl (`kubectl`), and the drive run in-process
//! by a lead who overrides red gates (`drive`).
#![allow(dead_code)]

pub mod bin;
pub mod cloud;
pub mod drive;
pub mod inspect;
pub mod journal;
pub mod kubectl;
pub mod sim;
pub mod steps;

// the names most tests use, at the top (each test binary uses some of them)
#[allow(unused_imports)]
pub use inspect::Inspect;
#[allow(unused_imports)]
pub use kubectl::{Kubectl, kubectl_or_skip, kubectl_path};
#[allow(unused_imports)]
pub use sim::{eventually, start, start_at, start_yaml};

/// The minor after the simulated cluster's: what its upgrade targets.
pub fn next_minor(sim: &upshift::sim::Simulator) -> String {
    let v = sim.world().lock().cluster.version.clone();
    upshift::units::Minor::parse(&v).map_or(v, |m| m.next().to_string())
}
