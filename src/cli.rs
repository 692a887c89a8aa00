//! Command-line interface: what a user types, with help that teaches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "upshift",
    version,
    about = "A terminal cockpit for zero-downtime Kubernetes version upgrades of EKS clusters",
    long_about = "upshift drives a Kubernetes version upgrade of an EKS cluster step by step: \
research, control plane, add-ons, node groups, with health gates in between. \
It ships a simulated EKS cluster so that anyone can rehearse an upgrade without a cloud account.",
    after_help = "Start here:\n  upshift demo                        rehearse on the built-in simulated cluster\n  upshift preflight --target 1.31     what will break or block the upgrade\n  upshift plan --target 1.31 -o p.yaml  a rollout plan for review\n  upshift watch                       the read-only cockpit on the current context\n  upshift replay JOURNAL              study a past rollout in the cockpit\n  upshift sim serve --scenario demo   serve the simulator for kubectl and other tools\n\nLogs go to a file (see --log-file), never to the terminal."
)]
pub struct Cli {
    /// Where to write the log (default: $XDG_STATE_HOME/upshift/upshift.log,
    /// else ~/.local/state/upshift/upshift.log). Level from UPSHIFT_LOG, e.g. UPSHIFT_LOG=debug.
    #[arg(long, global = true, value_name = "PATH", env = "UPSHIFT_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Show an error in full: every cause, the AWS SDK's detail, and a backtrace when
    /// RUST_BACKTRACE=1 (UPSHIFT_LOG=debug does the same). Without it an error is one
    /// plain sentence of what is wrong and what to do
    #[arg(long, global = true)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Subcommand, Debug)]
pub enum Commands {
    /// Rehearse a whole upgrade on the built-in simulated EKS cluster (no AWS, no cluster)
    ///
    /// Starts the simulator in-process on the `demo` scenario (EKS 1.34, three node
    /// groups, about 12 nodes and 150 pods, a PodDisruptionBudget that blocks drains,
    /// a workload that crash-loops on 1.35), plans its upgrade to 1.35 and opens the
    /// lead's cockpit on it, speeded up: gate by gate, the control plane, the add-ons
    /// and every node group. It takes a few minutes of real time. The plan and the
    /// journal are written beside the kubeconfig (upshift-demo.plan.yaml,
    /// upshift-demo.journal.jsonl).
    ///
    /// From another terminal, shadow the rehearsal read-only, or act with kubectl:
    ///
    ///   upshift watch --kubeconfig upshift-sim.kubeconfig --context viewer
    ///   export KUBECONFIG=$PWD/upshift-sim.kubeconfig
    ///   kubectl -n payments scale deployment ledger --replicas 3
    ///
    /// Keys: Enter proceed at a green gate, o override with a reason, p pause/resume,
    /// A abort, ? all keys. --watch-only opens the read-only cockpit without driving;
    /// --serve-only (or stdout not a terminal) only serves the cluster.
    #[command(verbatim_doc_comment)]
    Demo(DemoArgs),

    /// The read-only cockpit: watch a cluster's nodes, pods and components live
    ///
    /// Shows node state across all nodes (per node group: old/new version, Ready,
    /// cordoned, draining, terminating, new), node health, unscheduled pods and why,
    /// pod error activity, the critical components (DNS, pod networking, ingress,
    /// cluster autoscaling) and a live event log. It never writes to the cluster: it
    /// is built without any handle that can, and works with get/list/watch rights
    /// alone; what RBAC hides is named on screen, not a crash.
    ///
    /// When a lead drives an upgrade (`upshift drive`), the cockpit finds the rollout
    /// it publishes (ConfigMap kube-system/upshift-rollout) and follows it live: the
    /// plan, the current step and batch, each gate with its criteria and the lead's
    /// decision, the journal in the event log. Only the lead can decide.
    ///
    /// Keys: ? help, Tab or 1-6 focus a pane, j/k move, Enter details, / filter,
    /// Esc back, q quit.
    ///
    /// Examples:
    ///   upshift watch                                  # current context of ~/.kube/config
    ///   upshift watch --context prod-eu --kubeconfig ./kubeconfig
    ///   upshift watch --kubeconfig upshift-sim.kubeconfig --context viewer
    ///   upshift watch --headless | jq .unscheduled.count
    #[command(verbatim_doc_comment)]
    Watch(WatchArgs),

    /// The lead's cockpit: execute a plan step by step, with a gate before each
    ///
    /// Takes the cluster's lease (a second cockpit is refused with the holder's name;
    /// --take-over only once that lease has expired), then runs the plan: preflight,
    /// control plane, add-ons, node groups batch by batch, postflight. Before every
    /// step and between batches a gate shows its criteria (unscheduled pods, pod
    /// errors above the baseline, nodes Ready, critical components, the plan's
    /// CloudWatch alarms): Enter proceeds when all are green and settled; passing a
    /// red gate takes a typed reason. A production plan asks for the cluster's name
    /// to be typed before the first action. A drain held by a PodDisruptionBudget past
    /// the pod timeout offers: keep waiting, skip the node, delete the pod (typed).
    ///
    /// Everything goes to the journal (flushed entry by entry) and to the ConfigMap
    /// kube-system/upshift-rollout, which `upshift watch` follows read-only. Killed at
    /// any moment, the same command resumes where it was; no action is repeated.
    ///
    /// Keys: Enter proceed, o override (reason), p pause/resume, A abort, r retry,
    /// w keep waiting, s skip node, D delete pod, F force, c auto-continue, ? help.
    ///
    /// Examples:
    ///   upshift plan --target 1.31 --cluster prod-eu --region eu-west-1 -o plan.yaml
    ///   upshift plan check plan.yaml
    ///   upshift drive plan.yaml
    ///   upshift drive plan.yaml --journal /secure/upgrade-2026-11-25.jsonl
    ///   upshift drive plan.yaml --take-over        # after the lead's laptop died
    #[command(verbatim_doc_comment)]
    Drive(DriveArgs),

    /// The research phase: what will break or block an upgrade to a target version
    ///
    /// Reads the cluster once, read-only, and reports findings, each with a
    /// severity (blocker, warning, info), the resources it concerns, why it matters
    /// and what to do: removed APIs still in use (Helm releases, last-applied
    /// annotations, managedFields — with how sure each finding is), critical
    /// components (DNS, pod networking, ingress, cluster autoscaling) against the
    /// target, kubelet version skew, drain blockers (budgets that allow no
    /// disruption, single replicas, pods without a controller, node-local data,
    /// tolerate-everything workloads), and whether the cluster can absorb a batch.
    /// See docs/preflight.md for every check and its sources.
    ///
    /// Exit code: 0 no blockers, 1 blockers found, 2 could not run.
    ///
    /// Examples:
    ///   upshift preflight --target 1.31
    ///   upshift preflight --context prod-eu --target 1.31 --format markdown > preflight.md
    ///   upshift preflight --kubeconfig upshift-sim.kubeconfig --context viewer --target 1.31 --format json
    ///   upshift preflight --target 1.31 --cluster prod-eu --region eu-west-1   # with EKS's view
    #[command(verbatim_doc_comment)]
    Preflight(PreflightArgs),

    /// Write a rollout plan (YAML) for review, or check one against the cluster
    ///
    /// Discovers the cluster read-only: the control plane's version, the node groups
    /// (managed and self-managed, from the nodes' labels and, with --cluster, from
    /// EKS) and, with --cluster, the EKS add-ons with the version EKS defaults to on
    /// the target. Writes the steps in a safe order, with a comment on every field:
    /// preflight, control plane, vpc-cni, coredns, other add-ons, node groups
    /// (system first), kube-proxy, postflight; and the gates and drain settings.
    /// Edit it, then `upshift plan check` it and run it with `upshift drive`.
    /// See docs/plan.md for every field.
    ///
    /// Examples:
    ///   upshift plan --target 1.31 -o plan.yaml
    ///   upshift plan --context prod-eu --target 1.31 --cluster prod-eu --region eu-west-1 -o plan.yaml
    ///   upshift plan --target 1.31 --environment pre-production --batch 2 --self-managed instance-refresh
    ///   upshift plan check plan.yaml                   # exit 0 valid, 1 invalid, 2 could not check
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        verbatim_doc_comment
    )]
    Plan(PlanArgs),

    /// A rollout told from its journal: for the team's thread and the postmortem
    ///
    /// Reads a drive's journal (never writes it) and lays out where the rollout
    /// ended (done, done with open problems, aborted, or the step it is at), who
    /// drove, each step's start, end and duration, each gate with who passed it,
    /// how and how long it stood open, every override, skip and forced action with
    /// its reason, drains held and what released them, failures and retries, the
    /// numbers (nodes cordoned, pods evicted, instances terminated, actions with
    /// no result) and what deserves a second look, then the whole timeline.
    /// Works on a journal a drive is still writing and on one from an older upshift.
    ///
    /// Exit code: 0 the report was written, 2 the journal could not be read.
    ///
    /// Examples:
    ///   upshift report upshift-journal-demo.jsonl > rollout.md
    ///   upshift report journal.jsonl --format text
    ///   upshift report journal.jsonl --format json | jq '.gates[] | select(.decision == "override")'
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),

    /// A past rollout played in the read-only cockpit, for study
    ///
    /// Reads a drive's journal and the timeline the drive recorded beside it
    /// (JOURNAL.timeline.jsonl: the signals, node states and workloads down or
    /// degraded, at most one sample per 5 s of the cluster's time and one at each
    /// journal entry) and plays the rollout on the cockpit's own panes: the rollout
    /// pane with its gates and their criteria as they were, the event log up to the
    /// moment shown, node state, node health, unscheduled pods, pod errors and
    /// workloads. The header says REPLAY, the moment shown and the speed. Without a
    /// timeline (an older upshift, or it was deleted) it plays the rollout pane and
    /// the events from the journal alone, and says so. Reads only: it needs no
    /// cluster and writes nothing.
    ///
    /// Keys: space pause/play, + faster, - slower (1× to 1800× the cluster's time),
    /// n step to the next decision (and pause), j or a digit then Enter jump to
    /// where that step started, Home/End first/last moment, q quit; Tab, arrows,
    /// Enter, / and ? as in the cockpit.
    ///
    /// Examples:
    ///   upshift replay upshift-demo.journal.jsonl
    ///   upshift replay /secure/upgrade-2026-11-25.jsonl      # then n, n, n: each decision
    ///   upshift report upshift-demo.journal.jsonl > rollout.md  # the same rollout as text
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),

    /// The simulated EKS cluster: serve it, list or check scenarios
    #[command(subcommand)]
    Sim(SimCommand),

    /// One version across many clusters: stages (pre-production, then production)
    /// inside maintenance windows
    ///
    /// A campaign file (YAML) names the target, the windows (once, or weekly, in a
    /// time zone), and the stages in order, each with its clusters, the windows it
    /// runs in, a soak before the next stage, who may drive it, and the problems
    /// left open earlier that it accepts by name. See docs/campaign.md.
    ///
    /// Examples:
    ///   upshift campaign new -o winter.yaml      # a commented template
    ///   upshift campaign check winter.yaml       # exit 0 valid, 1 invalid, 2 could not check
    ///   upshift campaign status winter.yaml      # every cluster, the window, what is next
    ///   upshift campaign status winter.yaml --format markdown > campaign.md
    #[command(verbatim_doc_comment)]
    Campaign(CampaignArgs),
}

#[derive(Args, Debug)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub command: CampaignCommand,
}

#[derive(Subcommand, Debug)]
pub enum CampaignCommand {
    /// Write a commented campaign file to start from (every field explained)
    New {
        /// Write it to this file instead of stdout (an existing file is not overwritten)
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },

    /// Check a campaign file, then its plans and its clusters
    ///
    /// The file: its fields, durations, time zones, window names, duplicate
    /// clusters, drivers and accepted problems; each cluster's plan (it loads, and
    /// it is for that cluster and the target); then, unless --offline, each cluster:
    /// its context answers and its control plane is on the target or one minor
    /// below. Every problem names the file, line and field, and what to do.
    ///
    /// Exit code: 0 valid, 1 invalid, 2 a cluster could not be reached.
    Check(CampaignCheckArgs),

    /// Every cluster's state, the window and the time left in it, what is next
    ///
    /// Reads each cluster read-only (its control plane's version and the rollout a
    /// drive published in ConfigMap kube-system/upshift-rollout) and each drive's
    /// journal: not started, running (step N of M), done, done with problems (named),
    /// aborted. Then the window of the stage due (open with the time left, or the
    /// next one) and what is due: the cluster to drive, or what blocks the next
    /// stage (its predecessor, the soak and when it ends, problems not accepted).
    Status(CampaignStatusArgs),

    /// The lead's cockpit on the cluster due, inside its stage's window
    ///
    /// Reads every cluster and journal as `status` does, then opens `upshift drive`'s
    /// cockpit on the cluster due: the one running (resumed where it stands), else the
    /// next of the first unfinished stage. Refused, saying why and exiting 2: a stage
    /// whose predecessor is not done or still soaks, a problem an earlier cluster left
    /// open that the stage has not accepted by name (`accept:`), an operator not
    /// among the stage's drivers, or no window open (the next one is named;
    /// --outside-window REASON overrides, and the reason is journaled).
    ///
    /// In the window, every gate says whether the step can finish before the window
    /// closes (from the plan and from the same step on the clusters already done); a
    /// step that cannot needs an override. As the end nears, S stops at the next safe
    /// point; H hands the seat to another operator (who runs the same command).
    /// A shadow (`upshift watch`) sees the same campaign strip. With `plan: generate`
    /// the plan is written once beside the campaign file (NAME.plan.yaml) and reused.
    ///
    /// Examples:
    ///   upshift campaign drive winter.yaml
    ///   upshift campaign drive winter.yaml --outside-window "CVE-2026-1234 fix cannot wait"
    ///   upshift campaign drive winter.yaml --headless
    #[command(verbatim_doc_comment)]
    Drive(CampaignDriveArgs),
}

#[derive(Args, Debug)]
pub struct CampaignDriveArgs {
    /// The campaign file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Start although no window of the stage is open: the typed reason is journaled
    #[arg(long, value_name = "REASON")]
    pub outside_window: Option<String>,

    /// Take the cluster's lease once it has expired (the previous lead's drive died)
    #[arg(long)]
    pub take_over: bool,

    /// No screen: the rollout's state on stdout, the journal on stderr, the lead's
    /// commands on stdin (as `upshift drive --headless`)
    #[arg(long)]
    pub headless: bool,
}

#[derive(Args, Debug)]
pub struct CampaignCheckArgs {
    /// The campaign file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Only the file and its plans: do not reach the clusters
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args, Debug)]
pub struct CampaignStatusArgs {
    /// The campaign file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Judge windows and soaks at this instant instead of now (2026-12-08T22:30Z,
    /// 2026-12-08T22:30+01:00): what will be due then, with the clusters as they are
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// Read only the journals: do not reach the clusters
    #[arg(long)]
    pub offline: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The drive's journal (JSON lines), e.g. upshift-journal-demo.jsonl
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The drive's journal (JSON lines); its timeline is read from JOURNAL.timeline.jsonl
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
}

/// Which cluster, through which kubeconfig: shared by every command that reads one.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Kubeconfig context (default: the current context)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

/// Where and as whom AWS is reached: shared by every command that asks EKS.
#[derive(Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// AWS region of the cluster (default: from the AWS configuration)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// AWS profile (default: AWS_PROFILE, else the default profile)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// The AWS options only mean something with an EKS cluster's name.
#[derive(Args, Debug)]
#[command(
    mut_arg("region", |a| a.requires("cluster")),
    mut_arg("profile", |a| a.requires("cluster"))
)]
pub struct PreflightArgs {
    /// The Kubernetes minor version to upgrade to, e.g. 1.31
    #[arg(long, value_name = "VERSION")]
    pub target: String,

    #[command(flatten)]
    pub cluster_args: ClusterArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Extra API removals (same shape as assets/preflight/removed-apis.yaml)
    #[arg(long, value_name = "FILE")]
    pub apis: Option<PathBuf>,

    /// Nodes drained at once per node group, for the capacity check
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,

    /// The maintenance window's length in hours, from now: Karpenter node lifetimes
    /// (expireAfter, EKS Auto Mode's 21 days) and terminationGracePeriods that end
    /// inside it are reported, since disruption budgets cannot hold them
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    pub window: u32,

    /// EKS cluster name: also ask EKS for add-on versions, node groups and Upgrade
    /// Insights (AWS credentials from the standard chain; AWS_ENDPOINT_URL is honoured,
    /// e.g. the simulator's, see `upshift sim serve`)
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("region", |a| a.requires("cluster")),
    mut_arg("profile", |a| a.requires("cluster"))
)]
pub struct WatchArgs {
    #[command(flatten)]
    pub cluster_args: ClusterArgs,

    /// EKS cluster name: also show in the header when its minors leave standard and
    /// extended support, and what its upgrade policy charges (read once, only reads;
    /// AWS credentials from the standard chain). Without it nothing is said of support
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// No screen: print one JSON line of signals per interval on stdout
    #[arg(long)]
    pub headless: bool,

    /// Seconds between two JSON lines (with --headless)
    #[arg(long, default_value_t = 1.0, value_name = "SECS", requires = "headless")]
    pub interval: f64,

    /// With --headless: print one line as soon as every watch has listed the
    /// cluster, then exit (for benchmarks and scripts)
    #[arg(long, requires = "headless")]
    pub until_synced: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Virtual seconds per real second (1 to 600)
    #[arg(long, default_value_t = 30.0, value_name = "X")]
    pub speed: f64,

    /// Port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub port: u16,

    /// Where to write the kubeconfig for kubectl
    #[arg(long, default_value = "upshift-sim.kubeconfig", value_name = "PATH")]
    pub kubeconfig: PathBuf,

    /// Serve the demo cluster for kubectl without opening the cockpit
    #[arg(long)]
    pub serve_only: bool,

    /// Open the read-only cockpit on the demo cluster, without driving an upgrade
    #[arg(long, conflicts_with = "serve_only")]
    pub watch_only: bool,

    /// Rehearse a whole campaign: three clusters (pre-production, then two in
    /// production over two windows), a campaign file with windows on the simulators'
    /// clock, and `upshift campaign drive` on each cluster due; between drives the
    /// campaign's status, and the clock moved to a soak's end or a window on Enter
    #[arg(long, conflicts_with_all = ["serve_only", "watch_only", "port"])]
    pub campaign: bool,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("context", |a| a.help("Kubeconfig context (default: the plan's, else the current context)")),
    mut_arg("kubeconfig", |a| a.help("Kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")),
    mut_arg("region", |a| a.help("AWS region of the cluster (default: the plan's, else the AWS configuration)"))
)]
pub struct DriveArgs {
    /// The plan to execute (written by `upshift plan`, checked by `upshift plan check`)
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    #[command(flatten)]
    pub cluster_args: ClusterArgs,

    /// The journal: every decision, action and result, one JSON object per line,
    /// flushed entry by entry. Running again with the same journal resumes.
    /// Default: upshift-CLUSTER-TARGET.journal.jsonl in the current directory
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Take the cluster's lease over from another cockpit whose lease has expired
    #[arg(long)]
    pub take_over: bool,

    /// Send the rollout's events to the sinks in this YAML file (the fields of a
    /// plan's `notify:` section, docs/notify.md) instead of the plan's own section.
    /// Secrets come from environment variables or files it names, never inline
    #[arg(long, value_name = "FILE")]
    pub notify: Option<PathBuf>,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// No screen: print where the rollout stands as it changes, one line each, and
    /// read the lead's commands from stdin, one per line: proceed, override REASON,
    /// confirm CLUSTER, pause, resume, abort, retry, force GROUP, wait, skip-node,
    /// delete-pod POD, auto on|off, stop-at-safe-point, handover NAME
    #[arg(long)]
    pub headless: bool,

    /// The maintenance window closes at TIME (RFC 3339, e.g. 2026-12-01T23:00:00Z,
    /// or with a zone, 2026-12-01T23:00[Europe/Paris]), on the cluster's clock. A
    /// step or batch that cannot finish before then is red at its gate (passing it
    /// needs a typed reason); as the end nears the lead is offered to stop at a safe
    /// point. See docs/drive.md
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub window_closes: Option<jiff::Timestamp>,

    /// The window's name, as the gates and the journal say it
    #[arg(long, value_name = "NAME", default_value = "window", requires = "window_closes")]
    pub window_name: String,
}

/// A time given on the command line: RFC 3339, or a zoned date-time jiff reads.
pub fn parse_time(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>()
        .or_else(|_| s.parse::<jiff::Zoned>().map(|z| z.timestamp()))
        .map_err(|e| format!("{s:?} is not a time: give RFC 3339 like 2026-12-01T23:00:00Z ({e})"))
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Serve a simulated EKS cluster on 127.0.0.1 until interrupted
    ///
    /// The Kubernetes API is served over HTTPS on loopback (with a certificate
    /// authority made at start); kubectl and any Kubernetes client work against it
    /// through the kubeconfig written here, which holds three contexts: `lead` (may
    /// do everything), `viewer` (get/list/watch only) and `restricted` (read-only,
    /// and RBAC hides events and cluster-wide pods). Simulator endpoints under
    /// /sim/ report request counts by identity and verb and inject faults: see
    /// docs/simulator.md.
    ///
    /// Examples:
    ///   upshift sim serve
    ///   upshift sim serve --scenario large --port 8080
    ///   upshift sim serve --scenario ./my-cluster.yaml --speed 60
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),

    /// List the built-in scenarios
    Scenarios,

    /// Check a scenario file and summarise it, without serving it
    Check {
        /// Built-in scenario name or path to a YAML file
        #[arg(value_name = "NAME|FILE")]
        scenario: String,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub port: u16,

    /// Where to write the kubeconfig (contexts `lead`, `viewer` and `restricted`)
    #[arg(long, default_value = "upshift-sim.kubeconfig", value_name = "PATH")]
    pub kubeconfig: PathBuf,

    /// Built-in scenario (`upshift sim scenarios` lists them) or a YAML file (docs/scenarios.md)
    #[arg(long, default_value = "demo", value_name = "NAME|FILE")]
    pub scenario: String,

    /// Serve several clusters at once for rehearsing a campaign: a built-in campaign
    /// scenario (`rehearsal`: one pre-production and two production clusters) or a
    /// YAML file (docs/simulator.md). Writes one kubeconfig with a context per cluster
    /// and an AWS configuration file with a profile per cluster
    #[arg(long, value_name = "NAME|FILE", conflicts_with_all = ["scenario", "port"])]
    pub campaign: Option<String>,

    /// Virtual seconds per real second (1 to 600); every simulated delay is virtual
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub speed: f64,

    /// Also write the request counts as JSON to this file on exit
    #[arg(long, value_name = "PATH")]
    pub counts_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("context", |a| a.help("Kubeconfig context (default: the current context); recorded in the plan")),
    mut_arg("region", |a| a.requires("cluster")),
    mut_arg("profile", |a| a.requires("cluster"))
)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub check: Option<PlanCommand>,

    /// The Kubernetes minor version to upgrade to: one after the control plane's, e.g. 1.31
    #[arg(long, value_name = "VERSION", required = true)]
    pub target: Option<String>,

    #[command(flatten)]
    pub cluster_args: ClusterArgs,

    /// EKS cluster name: also ask EKS for the control plane, managed node groups and
    /// add-ons (AWS credentials from the standard chain; AWS_ENDPOINT_URL is honoured)
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// production asks for the cluster's name to be typed before the first action
    #[arg(long, value_enum, default_value_t = upshift::rollout::plan::Environment::Production)]
    pub environment: upshift::rollout::plan::Environment,

    /// Nodes replaced at once in each node group (capped at the group's size)
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,

    /// How self-managed node groups are upgraded: replace (upshift drains and
    /// terminates batch by batch) or instance-refresh (the Auto Scaling group's)
    #[arg(long, value_name = "STRATEGY", default_value = "replace", value_parser = ["replace", "instance-refresh"])]
    pub self_managed: String,

    /// How managed node groups are upgraded: blue-green (upshift copies the group on
    /// the target and drains the old one batch by batch, with gates) or eks-update
    /// (EKS's own update, no gate inside it). Default: blue-green for production,
    /// eks-update for pre-production
    #[arg(long, value_name = "STRATEGY", value_parser = ["blue-green", "eks-update"])]
    pub managed: Option<String>,

    /// Write the plan to this file instead of stdout
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum PlanCommand {
    /// Load a plan and check it against the live cluster; print a summary
    ///
    /// Every problem names the file, line and field, and what to do. Connects through
    /// --context, else the plan's cluster.context, else the current context; asks EKS
    /// when --cluster is given or the plan names a region.
    ///
    /// Exit code: 0 valid, 1 invalid, 2 could not check.
    Check(PlanCheckArgs),
}

#[derive(Args, Debug)]
#[command(
    mut_arg("context", |a| a.help("Kubeconfig context (default: the plan's, else the current context)")),
    mut_arg("region", |a| a.help("AWS region (default: the plan's, else from the AWS configuration)"))
)]
pub struct PlanCheckArgs {
    /// The plan file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub cluster_args: ClusterArgs,

    /// EKS cluster name (default: the plan's, when it names a region)
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Only the file: skip the checks against the live cluster
    #[arg(long)]
    pub offline: bool,
}
