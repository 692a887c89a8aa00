//! A rollout driven on the fixed cluster, in every phase the rollout pane shows: the
//! plan's steps, gates red and green, a node group under way, a held drain, a failed
//! step, the cluster's name to confirm, the end.

use crossterm::event::KeyCode;
use upshift::cockpit::Cockpit;
use upshift::cockpit::view::Pane;
use upshift::model::journal::StepState;
use upshift::model::rollout::{Command, Criterion, GateView, GroupProgress, Phase, RolloutState, StepView};
use upshift::ui::Intent;

use super::cluster::{cockpit, host, now};
use super::{focus, press};

pub const LEAD: &str = "ana@laptop";
pub const HOLDING_POD: &str = "payments/ledger-7d9f8c6b5-x2x4z";

pub fn step(id: &str, label: &str, state: StepState) -> StepView {
    StepView {
        id: id.parse().expect("a step id"),
        label: label.into(),
        state,
        ..Default::default()
    }
}

/// The plan of the fixed cluster: the control plane, four add-ons, three node groups,
/// the first four done; `apps` (index 5) is the step under way.
pub fn plan(apps: StepState) -> Vec<StepView> {
    use StepState::{Done, Pending};
    let mut apps = step("nodegroup/apps-1-30", "nodegroup apps-1-30 → 1.31", apps);
    apps.group = Some(GroupProgress {
        old: 4,
        new: 1,
        batch: 1,
        batches: 3,
        ..Default::default()
    });
    vec![
        step("control-plane", "control plane 1.30 → 1.31", Done),
        step("addon/vpc-cni", "addon vpc-cni → v1.19.2-eksbuild.1", Done),
        step("addon/coredns", "addon coredns → v1.11.3-eksbuild.2", Done),
        step("addon/kube-proxy", "addon kube-proxy → v1.31.3-eksbuild.2", Done),
        step("nodegroup/system", "nodegroup system → 1.31", Pending),
        apps,
        step(
            "nodegroup/apps-1-31",
            "nodegroup apps-1-31 → 1.31 (already there)",
            Pending,
        ),
        step(
            "addon/aws-ebs-csi-driver",
            "addon aws-ebs-csi-driver → v1.38.1-eksbuild.1",
            Pending,
        ),
        step("postflight", "check: every node on 1.31", Pending),
    ]
}

pub fn state(phase: Phase, apps: StepState) -> RolloutState {
    let mut steps = plan(apps);
    // the system group went first
    steps[4].state = StepState::Done;
    RolloutState {
        cluster: "shop-prod".into(),
        from: "1.30".into(),
        target: "1.31".into(),
        environment: "production".into(),
        lead: LEAD.into(),
        updated: Some(now() - jiff::SignedDuration::from_secs(3)),
        phase,
        steps,
        current: Some(5),
        gate: None,
        notice: None,
        problems: Vec::new(),
        budgets_to_restore: Vec::new(),
        campaign: None,
        window: None,
        handed_to: None,
    }
}

pub fn criterion(name: &str, ok: bool, detail: &str) -> Criterion {
    Criterion {
        name: name.into(),
        ok,
        detail: detail.into(),
        ..Default::default()
    }
}

/// The gate before the second batch of `apps-1-30`: pod errors above the baseline and
/// a budget that allows no disruption.
pub fn red_gate() -> GateView {
    GateView {
        id: "gate/nodegroup/apps-1-30/batch#2".parse().expect("a gate id"),
        title: "before batch 2 of 3 of nodegroup apps-1-30".into(),
        criteria: vec![
            criterion("unscheduled pods", true, "0 (limit 0)"),
            criterion(
                "pod errors above baseline",
                false,
                "3 above the baseline of 1 (limit 0): shop/checkout CrashLoopBackOff 2, shop/search ImagePullBackOff 1",
            ),
            criterion("nodes Ready", true, "12 of 12"),
            criterion("critical components", true, "DNS, pod networking, autoscaling healthy"),
            criterion("CloudWatch alarms", true, "0 of 4 in ALARM"),
            criterion(
                "drain blockers",
                false,
                "PodDisruptionBudget shop/web allows 0 disruptions (6 healthy, 6 needed)",
            ),
        ],
        green_since: None,
        settle_seconds: 60,
        passable: false,
        decision: None,
    }
}

pub fn green_gate(for_secs: i64, passable: bool) -> GateView {
    let mut g = red_gate();
    for k in &mut g.criteria {
        k.ok = true;
    }
    g.criteria[1].detail = "0 above the baseline of 1 (limit 0)".into();
    g.criteria[5].detail = "none".into();
    g.green_since = Some(now() - jiff::SignedDuration::from_secs(for_secs));
    g.passable = passable;
    g
}

pub fn gate_red() -> RolloutState {
    let mut s = state(Phase::Gate, StepState::Gate);
    s.steps[5].what = "waiting at the gate before batch 2 of 3".into();
    s.gate = Some(red_gate());
    s
}

pub fn gate_green() -> RolloutState {
    let mut s = gate_red();
    s.gate = Some(green_gate(75, true));
    s
}

pub fn group_running() -> RolloutState {
    let mut s = state(Phase::Running, StepState::Running);
    let apps = &mut s.steps[5];
    apps.what = "replacing batch 2 of 3: draining ip-10-0-2-22".into();
    apps.detail = "EKS update 3f9c2e71 InProgress for 6m · 4 pods left to move off ip-10-0-2-22".into();
    apps.group = Some(GroupProgress {
        old: 3,
        new: 2,
        batch: 2,
        batches: 3,
        draining: vec![host("ip-10-0-2-22")],
        holding: Some(format!(
            "pod {HOLDING_POD} held by PodDisruptionBudget payments/ledger (0 disruptions allowed: 2 healthy, 2 needed)"
        )),
        skipped: vec![host("ip-10-0-2-21")],
        auto_continue: true,
    });
    let mut gate = green_gate(75, true);
    gate.decision = Some(format!("proceed by {LEAD}"));
    s.gate = Some(gate);
    s
}

pub fn held() -> RolloutState {
    let mut s = group_running();
    s.phase = Phase::Held {
        node: host("ip-10-0-2-22"),
        pod: HOLDING_POD.into(),
        why: "PodDisruptionBudget payments/ledger (0 disruptions allowed: 2 healthy, 2 needed)".into(),
        since: Some(now() - jiff::SignedDuration::from_mins(15)),
    };
    s.steps[5].what = "drain of ip-10-0-2-22 held for 15m (pod timeout 10m)".into();
    s
}

pub fn failed() -> RolloutState {
    let mut s = group_running();
    s.phase = Phase::Failed {
        why: "EKS update 3f9c2e71 Failed: PodEvictionFailure: Reached max retries while trying to evict pods from \
              nodes in node group apps-1-30"
            .into(),
        what_to_do: "free the budget (kubectl -n payments get pdb ledger) and retry, skip the step, or force the \
                     update past the budgets"
            .into(),
        can_force: true,
    };
    let apps = &mut s.steps[5];
    apps.state = StepState::Failed;
    apps.what = "the node group's update failed".into();
    apps.detail = "EKS update 3f9c2e71 Failed after 14m; 2 of 5 nodes replaced".into();
    s.notice = Some("retry refused: the update is still rolling back".into());
    s
}

pub fn confirming() -> RolloutState {
    let mut s = state(Phase::ConfirmCluster, StepState::Pending);
    for st in &mut s.steps {
        st.state = StepState::Pending;
    }
    s.current = None;
    s
}

pub fn done() -> RolloutState {
    let mut s = state(Phase::Done, StepState::Done);
    for st in &mut s.steps {
        st.state = StepState::Done;
    }
    s.steps[6].state = StepState::Skipped;
    s.current = Some(8);
    let mut gate = green_gate(60, true);
    gate.title = "before check: every node on 1.31".into();
    gate.decision = Some(format!("proceed by {LEAD}"));
    s.gate = Some(gate);
    s
}

/// The fixed cluster with a rollout driven on it, the rollout pane focused.
pub fn driven(read_only: bool, state: RolloutState) -> Cockpit {
    let mut c = cockpit(read_only);
    c.rollout = Some(state);
    focus(&mut c, Pane::Rollout);
    c
}

pub fn drive(c: &mut Cockpit, code: KeyCode) -> Option<Command> {
    match press(c, code) {
        Some(Intent::Drive(command)) => Some(command),
        Some(other) => panic!("{other:?}"),
        None => None,
    }
}

/// The gate of the fixed rollout in a production campaign: pre-production done, this
/// cluster driven in window `tue-night` (40 minutes left), its neighbour waiting.
pub fn in_campaign() -> RolloutState {
    use upshift::model::campaign::{CampaignStrip, StripCluster, StripStage, StripWindow};
    let cluster = |name: &str, state: &str| StripCluster {
        name: name.into(),
        state: state.into(),
    };
    let mut s = gate_green();
    s.campaign = Some(CampaignStrip {
        name: "q4-upgrade".into(),
        target: "1.31".into(),
        stages: vec![
            StripStage {
                name: "pre-production".into(),
                clusters: vec![cluster("shop-staging", "done with problems")],
            },
            StripStage {
                name: "production".into(),
                clusters: vec![cluster("shop-prod", "running"), cluster("shop-prod-us", "not started")],
            },
        ],
        driving: "shop-prod".into(),
        window: Some(StripWindow {
            name: "tue-night".into(),
            opens: Some(now() - jiff::SignedDuration::from_mins(80)),
            closes: Some(now() + jiff::SignedDuration::from_mins(40)),
        }),
        next_window: None,
        soak_until: None,
    });
    s.window = Some(upshift::model::rollout::WindowStatus {
        name: "tue-night".into(),
        closes: Some(now() + jiff::SignedDuration::from_mins(40)),
        warning: None,
        stopping: false,
    });
    s
}
