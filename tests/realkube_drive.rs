//! The drive's two objects in a real cluster, as the lead seat (docs/rbac only): the
//! Lease lock (one holder, renewal, the same driver resuming, expiry and explicit
//! take-over, two drivers racing for a free lease) and the rollout ConfigMap written
//! by server-side apply by the publisher and followed by a viewer's ClusterReader,
//! staying under the API server's size limit with a long journal.

mod realkube_support;

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use parking_lot::Mutex;
use realkube_support::{eventually, get_or_skip};
use tokio::sync::{mpsc, watch};
use upshift::cluster::ClusterReader;
use upshift::model::journal::{Entry, What};
use upshift::model::rollout::CONFIGMAP;
use upshift::model::rollout::Published;
use upshift::model::{Delta, RolloutState};
use upshift::rollout::drive::publish::{self, RECENT};
use upshift::rollout::lock::{Lock, LockError, NAME, NAMESPACE};
use upshift::units::Now;

fn clock(start: Timestamp) -> (Arc<Mutex<Timestamp>>, Now) {
    let t = Arc::new(Mutex::new(start));
    let read = t.clone();
    (t, Arc::new(move || *read.lock()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_lock_holds_renews_expires_and_is_taken_over() {
    let Some(k) = get_or_skip("the_lease_lock_holds_renews_expires_and_is_taken_over") else {
        return;
    };
    let lead = k.client("lead").await;
    let (t, now) = clock("2026-11-25T02:00:00Z".parse().unwrap());
    let ttl = Duration::from_secs(30);

    // two drivers race for the free lease: the API server lets one create it
    let (a, b) = tokio::join!(
        Lock::acquire(lead.clone(), NAMESPACE, NAME, "ana@laptop", ttl, false, now.clone()),
        Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, false, now.clone()),
    );
    let (ana, refused) = match (a, b) {
        (Ok(l), Err(e)) => (l, e),
        (Err(e), Ok(l)) => {
            // bo won the race: give it back so that the rest reads as ana's
            l.release().await.unwrap();
            drop(e);
            let ana = Lock::acquire(lead.clone(), NAMESPACE, NAME, "ana@laptop", ttl, false, now.clone())
                .await
                .unwrap();
            (
                ana,
                LockError::Held {
                    holder: "ana@laptop".into(),
                    since: String::new(),
                    renewed_ago: String::new(),
                },
            )
        }
        (a, b) => panic!("exactly one driver gets the lease: {:?} / {:?}", a.err(), b.err()),
    };
    assert!(matches!(refused, LockError::Held { .. }), "{refused}");

    // a second cockpit is refused, told who and since when
    *t.lock() += SignedDuration::from_secs(10);
    let err = Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, true, now.clone())
        .await
        .err()
        .expect("refused while held");
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    assert!(err.to_string().contains("ana@laptop"), "{err}");

    // renewing keeps it past the first term
    *t.lock() += SignedDuration::from_secs(25);
    ana.renew().await.unwrap();
    *t.lock() += SignedDuration::from_secs(25);
    assert!(matches!(
        Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, true, now.clone()).await,
        Err(LockError::Held { .. })
    ));
    // the same driver starting again gets it back
    let again = Lock::acquire(lead.clone(), NAMESPACE, NAME, "ana@laptop", ttl, false, now.clone())
        .await
        .expect("resume");
    drop(again);

    // expired: a take-over must be asked for, then it is granted
    *t.lock() += SignedDuration::from_secs(120);
    let err = Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, false, now.clone())
        .await
        .err()
        .expect("expired, no take-over asked");
    assert!(matches!(err, LockError::Expired { .. }), "{err}");
    let bo = Lock::acquire(lead.clone(), NAMESPACE, NAME, "bo@desk", ttl, true, now.clone())
        .await
        .expect("take-over");
    let err = ana.renew().await.expect_err("ana lost it");
    assert!(
        matches!(err, LockError::Lost { ref holder, .. } if holder == "bo@desk"),
        "{err}"
    );
    bo.release().await.unwrap();
    Lock::acquire(lead.clone(), NAMESPACE, NAME, "cy@ops", ttl, false, now.clone())
        .await
        .expect("free after release")
        .release()
        .await
        .unwrap();

    // the viewer may read the lease but not take it (the real authorizer refuses)
    let viewer = k.client("viewer").await;
    let err = Lock::acquire(viewer, NAMESPACE, NAME, "shadow@desk", ttl, false, now.clone())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("may not write leases"), "{err}");
    let audit = k.audit_of("viewer");
    assert!(
        audit
            .iter()
            .any(|a| a.resource == "leases" && a.verb == "create" && a.code == 403),
        "{audit:#?}"
    );
    let lead_refused: Vec<_> = k
        .audit_of("lead")
        .into_iter()
        .filter(|a| a.resource == "leases" && a.code >= 400 && a.code != 404 && a.code != 409)
        .collect();
    assert!(lead_refused.is_empty(), "{lead_refused:#?}");
}

fn entry(seq: u64, detail: String) -> Entry {
    Entry {
        seq,
        at: Timestamp::from_second(1_790_000_000 + seq as i64).unwrap(),
        who: "ana@laptop".into(),
        what: What::Result {
            step: upshift::model::journal::StepId::Nodegroup("apps".into()),
            action: "evict".into(),
            target: format!("shop/web-{seq}"),
            ok: false,
            detail,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollout_configmap_is_applied_and_followed_and_stays_under_the_limit() {
    let Some(k) = get_or_skip("the_rollout_configmap_is_applied_and_followed_and_stays_under_the_limit") else {
        return;
    };
    let lead = k.client("lead").await;
    let state = RolloutState {
        cluster: "realkube".into(),
        target: format!("1.{}", k.minor() + 1),
        ..Default::default()
    };
    let (tx, rx) = watch::channel(Arc::new(Published {
        state: state.clone(),
        recent: vec![entry(1, "first".into())],
    }));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let errs = errors.clone();
    let publisher = tokio::spawn(publish::run(lead, rx, move |e| errs.lock().push(e)));

    // a shadow follows it through the viewer's ClusterReader
    let (dtx, mut drx) = mpsc::channel(256);
    let _watches = ClusterReader::new(k.client("viewer").await).start(dtx);
    let followed = |want_seq: u64, drx: &mut mpsc::Receiver<Delta>| {
        let mut seen = None;
        while let Ok(d) = drx.try_recv() {
            if let Delta::Rollout(Some(f)) = d {
                seen = Some(f);
            }
        }
        seen.filter(|f| f.recent.last().map(|e| e.seq) == Some(want_seq))
    };
    let f = eventually(30, "the shadow sees the first publication", || {
        let got = followed(1, &mut drx);
        async move { got }
    })
    .await;
    assert_eq!(f.state, state);

    // a long journal of heavy entries (evictions refused with long messages):
    // the publisher keeps the newest, the API server accepts it
    let long = "Cannot evict pod as it would violate the pod's disruption budget. ".repeat(80);
    let recent: Vec<Entry> = (1..=5_000).map(|i| entry(i, format!("{i}: {long}"))).collect();
    tx.send(Arc::new(Published {
        state: state.clone(),
        recent: recent[recent.len() - RECENT..].to_vec(),
    }))
    .unwrap();
    let f = eventually(30, "the shadow sees the newest entry of the long journal", || {
        let got = followed(5_000, &mut drx);
        async move { got }
    })
    .await;
    assert!(f.recent.len() > 50, "{} entries kept", f.recent.len());
    assert!(
        f.recent.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "the newest entries, in order, without gaps"
    );
    assert!(errors.lock().is_empty(), "{:?}", errors.lock());
    let cm = Api::<ConfigMap>::namespaced(k.client("admin").await, NAMESPACE)
        .get(CONFIGMAP)
        .await
        .unwrap();
    let size: usize = cm.data.as_ref().unwrap().iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(size < 1024 * 1024, "{size} bytes");
    // written by server-side apply under the field manager "upshift"
    let managers: Vec<(String, String)> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("upshift".to_string(), "Apply".to_string())),
        "{managers:?}"
    );
    drop(tx);
    publisher.await.unwrap();
    let writes: Vec<_> = k
        .audit_of("lead")
        .into_iter()
        .filter(|a| a.resource == "configmaps")
        .collect();
    assert!(writes.iter().all(|a| a.verb == "patch" && a.code < 300), "{writes:#?}");
    // the shadow only read (the lease test in this binary makes the viewer's one refused write)
    let shadow: Vec<_> = k
        .audit_of("viewer")
        .into_iter()
        .filter(|a| a.resource != "leases")
        .collect();
    // a 404 on Karpenter's kinds is how a cluster without its CRDs answers the
    // cockpit's NodePool watches: the view stays off
    let karpenter_absent = |a: &&realkube_support::Audited| a.code == 404 && a.uri.starts_with("/apis/karpenter.sh/");
    assert!(
        shadow
            .iter()
            .all(|a| !a.mutating() && (a.code < 400 || karpenter_absent(&a))),
        "{shadow:#?}"
    );
}
