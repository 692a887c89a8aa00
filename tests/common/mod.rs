//! Shared test helpers: a simulator on a free loopback port, and small waits.
#![allow(dead_code)]

use std::time::Duration;

use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// Starts the simulator on `scenario` (a built-in name) at real-time speed, on a free port.
pub async fn start(scenario: &str) -> Simulator {
    let scenario = Scenario::load(scenario).expect("built-in scenario loads");
    let mut cfg = SimConfig::new(scenario);
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
