//! Two cockpits never drive one cluster at once: the Lease lock against the
//! simulator, with a clock the test moves.

mod common;

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;
use upshift::rollout::lock::{Lock, LockError, NAME, NAMESPACE};
use upshift::units::Now;

fn clock(start: Timestamp) -> (Arc<Mutex<Timestamp>>, Now) {
    let t = Arc::new(Mutex::new(start));
    let read = t.clone();
    (t, Arc::new(move || *read.lock()))
}

#[tokio::test]
async fn one_holder_at_a_time_resume_and_explicit_takeover() {
    let sim = common::start("demo").await;
    let lead = sim.client("lead").await.unwrap();
    let (t, now) = clock("2026-11-25T02:00:00Z".parse().unwrap());
    let ttl = Duration::from_secs(30);

    let ana = Lock::acquire(lead.clone(), NAMESPACE, NAME, "ana@laptop", ttl, false, now.clone())
        .await
        .expect("the first cockpit takes the lease");

    // a second cockpit is refused, told who and since when
    *t.lock() += SignedDuration::from_secs(10);
    let err = Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, true, now.clone())
        .await
        .err()
        .expect("refused while held");
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("ana@laptop") && msg.contains("2026-11-25T02:00:00Z"),
        "{msg}"
    );

    // renewing keeps it alive past the first term
    *t.lock() += SignedDuration::from_secs(25);
    ana.renew().await.unwrap();
    *t.lock() += SignedDuration::from_secs(25);
    assert!(matches!(
        Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, true, now.clone()).await,
        Err(LockError::Held { .. })
    ));

    // the same operator starting again (after a crash) gets it back, keeping its start
    let ana_again = Lock::acquire(lead.clone(), NAMESPACE, NAME, "ana@laptop", ttl, false, now.clone())
        .await
        .expect("resume");
    drop(ana_again);

    // ana's cockpit dies: once expired, a takeover still needs to be asked for
    *t.lock() += SignedDuration::from_secs(120);
    let err = Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, false, now.clone())
        .await
        .err()
        .expect("expired, but no takeover asked");
    assert!(
        matches!(err, LockError::Expired { .. }) && err.to_string().contains("--take-over"),
        "{err}"
    );
    let bo = Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, true, now.clone())
        .await
        .expect("explicit takeover of an expired lease");

    // ana's old handle now knows it lost the cluster
    let err = ana.renew().await.expect_err("lost");
    assert!(
        matches!(err, LockError::Lost { ref holder, .. } if holder == "bo@desk"),
        "{err}"
    );

    // released: anyone may take it at once
    bo.release().await.unwrap();
    Lock::acquire(lead.clone(), NAMESPACE, NAME, "cy@ops", ttl, false, now.clone())
        .await
        .expect("free after release");
}

#[tokio::test]
async fn a_read_only_identity_cannot_take_the_lease() {
    let sim = common::start("demo").await;
    let viewer = sim.client("viewer").await.unwrap();
    let now: Now = Arc::new(Timestamp::now);
    let err = Lock::acquire(
        viewer,
        NAMESPACE,
        NAME,
        "shadow@desk",
        Duration::from_secs(30),
        false,
        now,
    )
    .await
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("may not write leases"), "{msg}");
}
