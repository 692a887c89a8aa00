//! The simulator, started by each test on a free loopback port: a built-in scenario at
//! real-time speed or faster, or a scenario written in the test.

use std::time::Duration;

use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// Starts the simulator on `scenario` (a built-in name) at real-time speed, on a free port.
pub async fn start(scenario: &str) -> Simulator {
    start_at(scenario, 1.0).await
}

/// Starts the simulator on `scenario` (a built-in name) at `speed` virtual seconds per
/// real second (300: a virtual minute every 0.2 s).
pub async fn start_at(scenario: &str, speed: f64) -> Simulator {
    let scenario = Scenario::load(scenario).expect("built-in scenario loads");
    run(scenario, speed).await
}

/// Starts the simulator on a scenario written in the test.
pub async fn start_yaml(yaml: &str) -> Simulator {
    let scenario = Scenario::from_yaml(yaml, "test scenario").unwrap_or_else(|e| panic!("{e}"));
    run(scenario, 1.0).await
}

async fn run(scenario: Scenario, speed: f64) -> Simulator {
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = speed;
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

/// Polls `check` every 50 ms (advancing virtual time by `step` each time) until it
/// returns Some, or fails the test after `tries`.
pub async fn eventually<T, F, Fut>(sim: &Simulator, step: Duration, tries: usize, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..tries {
        if let Some(v) = check().await {
            return v;
        }
        sim.advance(step);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for: {what}");
}
