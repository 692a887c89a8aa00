//! A lead's rig for calling steps by hand: the simulator, upshift's AWS client on it,
//! a client that may write, a journal in a temporary directory, and the simulator's
//! virtual clock; from it, a step's context ([`StepCtx`]) or a drain's ([`DrainCtx`]).

use std::path::PathBuf;

use jiff::Timestamp;
use upshift::cloud::AwsCloud;
use upshift::model::journal::{Decision, Subject, What};
use upshift::model::rollout::GroupProgress;
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{Drain, Step};
use upshift::rollout::steps::{DrainCtx, Progress, StepCtx, StepError, abort, reconcile};
use upshift::sim::Simulator;

use super::inspect::Inspect;

/// Who the rig acts as.
pub const WHO: &str = "ana@laptop";
/// The target of the demo cluster's steps (it runs 1.34).
pub const TARGET: &str = "1.35";

/// The clock a step reads.
pub type Now<'a> = &'a (dyn Fn() -> Timestamp + Send + Sync);

/// A step's context as the lead: on `cluster`, to [`TARGET`], with the plan's default
/// drain options; `client` when the step may write to the cluster.
pub fn step_ctx<'a>(
    cloud: &'a AwsCloud,
    client: Option<kube::Client>,
    cluster: &'a str,
    journal: &'a mut Journal,
    now: Now<'a>,
) -> StepCtx<'a> {
    StepCtx {
        cloud,
        client,
        cluster,
        target: TARGET,
        drain: Drain::default(),
        journal,
        who: WHO,
        now,
        group: GroupProgress::default(),
    }
}

/// A drain's context as the lead.
pub fn drain_ctx<'a>(client: kube::Client, journal: &'a mut Journal, now: Now<'a>) -> DrainCtx<'a> {
    DrainCtx {
        client,
        journal,
        who: WHO,
        now,
    }
}

/// The simulator's virtual clock, as a step reads it.
pub fn clock_of(sim: &Simulator) -> impl Fn() -> Timestamp + Send + Sync + use<> {
    let clock = sim.clock();
    move || clock.now()
}

/// A simulator, the clients a lead has, and the rollout's journal.
pub struct Rig {
    pub sim: Simulator,
    pub cloud: AwsCloud,
    /// A client as the lead (it may write).
    pub client: kube::Client,
    /// Whether step contexts carry the writing client (self-managed groups need it).
    pub writes: bool,
    pub cluster: String,
    pub drain: Drain,
    pub path: PathBuf,
    pub journal: Journal,
    /// The minor the steps go to: the one after the simulated cluster's, unless a
    /// test sets another.
    pub target: &'static str,
    now: Box<dyn Fn() -> Timestamp + Send + Sync>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A rig on `sim` whose step contexts carry the lead's client.
    pub async fn new(sim: Simulator) -> Rig {
        let cloud = super::cloud::aws(&sim).await;
        let client = sim.client("lead").await.expect("the lead's client");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("rollout.jsonl");
        let journal = Journal::open(&path).expect("a new journal");
        let cluster = sim.cluster_name().to_string();
        let now = clock_of(&sim);
        let target: &'static str = Box::leak(super::next_minor(&sim).into_boxed_str());
        Rig {
            sim,
            cloud,
            client,
            writes: true,
            cluster,
            drain: Drain::default(),
            path,
            journal,
            target,
            now: Box::new(now),
            _dir: dir,
        }
    }

    /// A rig whose step contexts have no client (what managed steps need).
    pub async fn cloud_only(sim: Simulator) -> Rig {
        Rig {
            writes: false,
            ..Rig::new(sim).await
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Timestamp {
        (self.now)()
    }

    /// The context a step is called with.
    pub fn step_ctx(&mut self) -> StepCtx<'_> {
        let client = self.writes.then(|| self.client.clone());
        let mut ctx = step_ctx(&self.cloud, client, &self.cluster, &mut self.journal, &*self.now);
        ctx.drain = self.drain.clone();
        ctx.target = self.target;
        ctx
    }

    /// The context a drain is called with, as the lead.
    pub fn drain_ctx(&mut self) -> DrainCtx<'_> {
        drain_ctx(self.client.clone(), &mut self.journal, &*self.now)
    }

    /// One reconcile call; also returns the group's progress as the step filled it.
    pub async fn call(&mut self, step: &Step) -> (Result<Progress, StepError>, GroupProgress) {
        let mut ctx = self.step_ctx();
        let r = reconcile(&mut ctx, step).await;
        (r, ctx.group)
    }

    /// Aborts a node group step; returns what was done.
    pub async fn abort(&mut self, step: &Step) -> Vec<String> {
        let Step::Nodegroup(g) = step else {
            panic!("only a node group step is aborted: {step:?}")
        };
        let mut ctx = self.step_ctx();
        abort(&mut ctx, g).await.expect("the abort goes through")
    }

    /// Journals the lead's decision about `about`; returns its time.
    pub fn decide(&mut self, about: impl Into<Subject>, decision: Decision, target: Option<&str>) -> Timestamp {
        let at = self.now();
        self.journal
            .append(
                WHO,
                at,
                What::Decision {
                    step: Some(about.into()),
                    decision,
                    reason: None,
                    target: target.map(str::to_string),
                },
            )
            .expect("the decision is journaled");
        at
    }

    /// The journal as a new process opens it after a restart.
    pub fn reopen(&mut self) {
        self.journal = Journal::open(&self.path).expect("the journal reopens");
    }

    /// The actions journaled: (step, action, target).
    pub fn actions(&self) -> Vec<(String, String, String)> {
        self.journal
            .entries()
            .iter()
            .filter_map(|e| match &e.what {
                What::Action { step, action, target } => Some((step.to_string(), action.clone(), target.clone())),
                _ => None,
            })
            .collect()
    }

    /// The targets of the actions named `name`.
    pub fn actions_named(&self, name: &str) -> Vec<String> {
        self.actions()
            .into_iter()
            .filter(|(_, a, _)| a == name)
            .map(|(_, _, t)| t)
            .collect()
    }
}
