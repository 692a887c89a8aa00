//! The simulator's lifecycle hooks against moto's, through aws-sdk-autoscaling: the
//! operations moto implements (PutLifecycleHook, DescribeLifecycleHooks,
//! DeleteLifecycleHook) give the same answers for the same calls. Where moto is not
//! AWS (it reports a GlobalTimeout of 48 hours whatever the heartbeat timeout, and
//! made-up RoleARN and NotificationTargetARN for hooks that have none), the
//! simulator follows AWS's documentation and the difference is checked, not hidden.
//! Prints SKIPPED when moto is not installed (`pip install 'moto[server]'`).

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::LifecycleHook;
use upshift::cloud::{AwsOptions, sdk_config};

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Option<Moto> {
    let installed = Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("SKIPPED: moto is not installed (pip install 'moto[server]'); the moto tests need it");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let t0 = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(t0.elapsed() < Duration::from_secs(60), "moto did not start on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(moto)
}

/// A hook as both report it: (name, group, transition, heartbeat, global timeout, default).
type Seen = (String, String, String, i32, i32, String);

fn seen(h: &LifecycleHook) -> Seen {
    (
        h.lifecycle_hook_name().unwrap_or_default().to_string(),
        h.auto_scaling_group_name().unwrap_or_default().to_string(),
        h.lifecycle_transition().unwrap_or_default().to_string(),
        h.heartbeat_timeout().unwrap_or(-1),
        h.global_timeout().unwrap_or(-1),
        h.default_result().unwrap_or_default().to_string(),
    )
}

/// The same calls against one endpoint; returns what DescribeLifecycleHooks said
/// after each step.
async fn exercise(c: &aws_sdk_autoscaling::Client) -> Vec<Vec<Seen>> {
    let describe = |names: &[&str]| {
        let mut r = c.describe_lifecycle_hooks().auto_scaling_group_name("batch");
        for n in names {
            r = r.lifecycle_hook_names(*n);
        }
        async move {
            let mut v: Vec<Seen> = r.send().await.unwrap().lifecycle_hooks().iter().map(seen).collect();
            v.sort();
            v
        }
    };
    let mut out = Vec::new();
    out.push(describe(&[]).await);
    c.put_lifecycle_hook()
        .auto_scaling_group_name("batch")
        .lifecycle_hook_name("drain")
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(300)
        .default_result("CONTINUE")
        .send()
        .await
        .unwrap();
    c.put_lifecycle_hook()
        .auto_scaling_group_name("batch")
        .lifecycle_hook_name("boot")
        .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
        .send()
        .await
        .unwrap();
    out.push(describe(&[]).await);
    out.push(describe(&["drain"]).await);
    c.delete_lifecycle_hook()
        .auto_scaling_group_name("batch")
        .lifecycle_hook_name("boot")
        .send()
        .await
        .unwrap();
    out.push(describe(&[]).await);
    out
}

#[tokio::test]
async fn lifecycle_hooks_answer_as_moto_does_where_moto_follows_aws() {
    let Some(moto) = start_moto().await else { return };
    let conf = sdk_config(&AwsOptions::local(&moto.url, "eu-west-1")).await;
    let m = aws_sdk_autoscaling::Client::new(&conf);
    m.create_launch_configuration()
        .launch_configuration_name("nodes")
        .image_id("ami-12345678")
        .instance_type("c5.xlarge")
        .send()
        .await
        .unwrap();
    m.create_auto_scaling_group()
        .auto_scaling_group_name("batch")
        .launch_configuration_name("nodes")
        .min_size(3)
        .max_size(6)
        .desired_capacity(3)
        .availability_zones("eu-west-1a")
        .send()
        .await
        .unwrap();
    let from_moto = exercise(&m).await;

    let sim = common::start("demo").await;
    let conf = sdk_config(&AwsOptions::local(&sim.aws_url(), &sim.aws_region())).await;
    let s = aws_sdk_autoscaling::Client::new(&conf);
    let from_sim = exercise(&s).await;

    assert_eq!(from_moto.len(), from_sim.len());
    for (step, (mo, si)) in from_moto.iter().zip(&from_sim).enumerate() {
        assert_eq!(mo.len(), si.len(), "step {step}: moto {mo:?}, simulator {si:?}");
        for (a, b) in mo.iter().zip(si) {
            // everything but the global timeout agrees
            assert_eq!(
                (&a.0, &a.1, &a.2, a.3, &a.5),
                (&b.0, &b.1, &b.2, b.3, &b.5),
                "step {step}"
            );
            // AWS: 100 × the heartbeat timeout or 48 hours, whichever is smaller;
            // moto says 48 hours always, so they agree only for the default heartbeat
            assert_eq!(b.4, (100 * b.3).min(172_800), "step {step}: {b:?}");
            if a.3 == 3600 {
                assert_eq!(a.4, b.4, "step {step}");
            }
        }
    }
    assert_eq!(from_sim[1].len(), 2);
    assert_eq!(from_sim[1][1].4, 30_000, "drain: 100 × 300 s");
    assert_eq!(from_sim[1][0].5, "ABANDON", "AWS's default result, as moto's");
}
