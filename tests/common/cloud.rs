//! upshift's AWS client on the simulator's AWS endpoint (static dummy credentials:
//! no credential lookup leaves the machine).

use std::sync::Arc;

use upshift::cloud::{AwsCloud, AwsOptions, Cloud};
use upshift::sim::Simulator;

/// The AWS client on the simulator.
pub async fn aws(sim: &Simulator) -> AwsCloud {
    AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
        .await
        .expect("the AWS client connects")
}

/// The same, as the drive holds it.
pub async fn shared(sim: &Simulator) -> Arc<dyn Cloud> {
    Arc::new(aws(sim).await)
}

/// How many requests of `op` (e.g. `UpdateClusterVersion`) the simulated AWS served.
pub fn count(sim: &Simulator, op: &str) -> u64 {
    sim.aws_request_counts().get(op).copied().unwrap_or(0)
}
