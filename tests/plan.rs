//! `upshift plan`: discovery on the demo scenario, the written YAML read back, the
//! errors a broken plan gives (file, line, field), and the command end to end; all
//! against the simulator, as the read-only `viewer` where planning is concerned.

mod common;

use upshift::cloud::{AwsCloud, AwsOptions};
use upshift::rollout::plan::{self, Environment, GroupType, Live, Plan, PlanError, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

async fn live(sim: &Simulator, eks: bool) -> Live {
    let client = sim.client("viewer").await.unwrap();
    let cloud = AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
        .await
        .unwrap();
    let eks = eks.then_some((&cloud as &dyn upshift::cloud::CloudRead, sim.cluster_name()));
    plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "kubeconfig-cluster",
        eks,
        "1.35",
    )
    .await
    .unwrap()
}

fn options(sim: &Simulator) -> ProposeOptions {
    ProposeOptions {
        target: "1.35".into(),
        environment: Environment::Production,
        context: Some("viewer".into()),
        region: Some(sim.aws_region()),
        batch_size: 1,
        self_managed: Strategy::Replace,
        // the checks below are written for EKS's own update (tests/plan_bluegreen.rs: blue-green)
        managed: Some(Strategy::EksUpdate),
    }
}

/// The 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

/// The n-th (0-based) line containing `needle`, 1-based.
fn nth_line_of(text: &str, needle: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(n)
        .expect("needle in text")
        .0
        + 1
}

/// Replaces the n-th (0-based) occurrence of `from`.
fn replace_nth(text: &str, from: &str, to: &str, n: usize) -> String {
    let (i, _) = text.match_indices(from).nth(n).expect("occurrence");
    format!("{}{to}{}", &text[..i], &text[i + from.len()..])
}

fn expect_error(r: Result<(), PlanError>, line: usize, field: &str, words: &str) {
    let e = r.expect_err("the plan should be refused");
    let shown = e.to_string();
    assert_eq!(e.line(), Some(line), "{shown}");
    assert_eq!(e.field(), Some(field), "{shown}");
    // a step is named as the summary numbers it, with the field's path once
    let named = match field.strip_prefix("steps[").and_then(|r| r.split_once(']')) {
        Some((n, _)) => format!("step {} ({field})", n.parse::<usize>().unwrap() + 1),
        None => field.to_string(),
    };
    let head = format!("plan.yaml:{line}: {named}: ");
    assert!(shown.starts_with(&head), "{shown}");
    assert!(!shown[head.len()..].contains("steps["), "the path said twice: {shown}");
    assert!(shown.contains(words), "{shown:?} should say {words:?}");
}

fn check(text: &str, live: &Live) -> Result<(), PlanError> {
    Plan::from_yaml(text, "plan.yaml")?.validate(live)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_on_the_demo_gives_every_step_in_a_safe_order_and_sends_no_write() {
    let sim = common::start("demo").await;
    let live = live(&sim, true).await;
    assert_eq!(live.control_plane, "1.34");
    assert_eq!(live.cluster, "demo");
    assert!(live.unreadable.is_empty(), "{:?}", live.unreadable);
    let p = plan::propose(&live, &options(&sim));
    let labels: Vec<String> = p.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels,
        [
            "preflight",
            "control-plane",
            "addon vpc-cni",
            "addon coredns",
            "nodegroup system",
            "nodegroup apps",
            "nodegroup batch",
            "addon kube-proxy",
            "postflight"
        ]
    );
    let version = |name: &str| {
        p.steps.iter().find_map(|s| match s {
            Step::Addon { name: n, version } if n == name => Some(version.clone()),
            _ => None,
        })
    };
    assert_eq!(version("vpc-cni").as_deref(), Some("v1.21.1-eksbuild.3"));
    assert_eq!(version("coredns").as_deref(), Some("v1.14.3-eksbuild.3"));
    assert_eq!(version("kube-proxy").as_deref(), Some("v1.35.3-eksbuild.13"));
    let groups: Vec<(String, GroupType, Strategy, u32)> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Nodegroup(g) => Some((g.name.clone(), g.group_type, g.strategy, g.batch_size)),
            _ => None,
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("system".into(), GroupType::Managed, Strategy::EksUpdate, 1),
            ("apps".into(), GroupType::Managed, Strategy::EksUpdate, 1),
            ("batch".into(), GroupType::SelfManaged, Strategy::Replace, 1),
        ]
    );
    assert_eq!(live.group("apps").map(|g| g.size), Some(6));
    assert_eq!((p.from.as_str(), p.target.as_str()), ("1.34", "1.35"));

    // without EKS: groups from the nodes' labels, no add-ons
    let bare = live_without_eks(&sim).await;
    assert_eq!(bare.addons, None);
    assert_eq!(bare.groups.len(), 3);
    assert_eq!(bare.group("batch").map(|g| g.group_type), Some(GroupType::SelfManaged));
    let p = plan::propose(&bare, &options(&sim));
    assert!(!p.steps.iter().any(|s| matches!(s, Step::Addon { .. })));
    assert!(p.to_yaml(Some(&bare)).contains("EKS add-ons were not looked up"));

    assert_eq!(sim.request_counts().mutating("viewer"), 0, "planning only reads");
    let aws = sim.aws_request_counts();
    assert!(!aws.is_empty());
    for op in aws.keys() {
        assert!(
            op.starts_with("Describe") || op.starts_with("List"),
            "planning sent the AWS operation {op}"
        );
    }
}

async fn live_without_eks(sim: &Simulator) -> Live {
    let client = sim.client("viewer").await.unwrap();
    plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "kubeconfig-cluster",
        None,
        "1.35",
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_plan_reads_back_as_the_same_plan_and_is_valid() {
    let sim = common::start("demo").await;
    let live = live(&sim, true).await;
    let mut p = plan::propose(&live, &options(&sim));
    p.gates.alarms = vec!["api-5xx".into(), "true".into()];
    p.cluster.environment = Environment::PreProduction;
    let text = p.to_yaml(Some(&live));
    assert!(
        text.contains("# EKS add-on vpc-cni v1.20.4-eksbuild.1 → v1.21.1-eksbuild.3"),
        "{text}"
    );
    assert!(text.contains("from: \"1.34\""), "{text}");
    let back = Plan::from_yaml(&text, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, p);
    back.validate(&live).unwrap();
    // flow style reads the same
    let flow = "apiVersion: upshift.dev/v1\nkind: Plan\ncluster: {name: demo, environment: production}\n\
                from: \"1.34\"\ntarget: \"1.35\"\nsteps:\n  - {kind: control-plane}\n  \
                - {kind: nodegroup, name: batch, type: self-managed, strategy: instance-refresh, batchSize: 3}\n";
    let p = Plan::from_yaml(flow, "flow.yaml").unwrap();
    p.validate(&live).unwrap();
    assert_eq!(p.gates, plan::Gates::default());
    // a plan whose control plane is done (only nodes remain) stays valid
    let mut done = live.clone();
    done.control_plane = "1.35".into();
    back.validate(&done).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_plan_is_refused_with_its_line_field_and_what_to_do() {
    let sim = common::start("demo").await;
    let live = live(&sim, true).await;
    let text = plan::propose(&live, &options(&sim)).to_yaml(Some(&live));
    check(&text, &live).unwrap();

    // two minors ahead
    let t = text.replace("target: \"1.35\"", "target: \"1.36\"");
    expect_error(
        check(&t, &live),
        line_of(&t, "target: "),
        "target",
        "one minor at a time",
    );

    // a node group that does not exist (steps: preflight, cp, vpc-cni, coredns, system, apps, batch)
    let t = text.replace("name: batch", "name: gpu");
    expect_error(
        check(&t, &live),
        line_of(&t, "name: gpu"),
        "steps[6].name",
        "apps (managed, 6 nodes)",
    );

    // batchSize 0, and above the group's size (system has 3 nodes)
    let t = replace_nth(&text, "batchSize: 1", "batchSize: 0", 0);
    expect_error(
        check(&t, &live),
        line_of(&t, "batchSize: 0"),
        "steps[4].batchSize",
        "at least 1",
    );
    let t = replace_nth(&text, "batchSize: 1", "batchSize: 4", 0);
    expect_error(
        check(&t, &live),
        line_of(&t, "batchSize: 4"),
        "steps[4].batchSize",
        "give 1 to 3",
    );
    let t = replace_nth(&text, "batchSize: 1", "batchSize: 3", 0);
    check(&t, &live).unwrap();

    // an unknown field, with its line
    let at = nth_line_of(&text, "    strategy: ", 1);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(at, "    surge: 2");
    let t = lines.join("\n");
    expect_error(check(&t, &live), at + 1, "steps[5].surge", "unknown field `surge`");
    let t = text.replace("drain:\n", "drain:\n  podTimeout: 30\n");
    expect_error(
        check(&t, &live),
        line_of(&t, "podTimeout: 30"),
        "drain.podTimeout",
        "unknown field",
    );

    // instance-refresh on a managed group
    let t = replace_nth(&text, "strategy: eks-update", "strategy: instance-refresh", 1);
    expect_error(
        check(&t, &live),
        line_of(&t, "strategy: instance-refresh"),
        "steps[5].strategy",
        "use eks-update",
    );

    // a managed group declared self-managed
    let t = replace_nth(&text, "type: managed", "type: self-managed", 0);
    let t = replace_nth(&t, "strategy: eks-update", "strategy: replace", 0);
    expect_error(
        check(&t, &live),
        line_of(&t, "type: self-managed"),
        "steps[4].type",
        "is managed",
    );

    // a wrong `from`: the cluster is on 1.34
    let t = text
        .replace("from: \"1.34\"", "from: \"1.35\"")
        .replace("target: \"1.35\"", "target: \"1.36\"");
    expect_error(
        check(&t, &live),
        line_of(&t, "from: "),
        "from",
        "the control plane runs 1.34",
    );

    // a version written without quotes reads as written
    let t = text.replace("from: \"1.34\"", "from: 1.34");
    check(&t, &live).unwrap();

    // duplicate steps, and node groups before the control plane
    let t = text.replace(
        "  - kind: postflight",
        "  - kind: nodegroup\n    name: apps\n    type: managed",
    );
    expect_error(
        check(&t, &live),
        t.lines().count() - 1,
        "steps[8].name",
        "already a step above",
    );
    let t = text
        .replacen("  - kind: control-plane\n", "", 1)
        .replace("  - kind: postflight", "  - kind: control-plane\n  - kind: postflight");
    expect_error(
        check(&t, &live),
        line_of(&t, "kind: addon"),
        "steps[1].kind",
        "before the control-plane step",
    );

    // an add-on version EKS does not offer for the target
    let t = text.replace("version: v1.21.1-eksbuild.3", "version: v1.17.0-eksbuild.1");
    expect_error(
        check(&t, &live),
        line_of(&t, "v1.17.0-eksbuild.1"),
        "steps[2].version",
        "offers v1.21.1-eksbuild.3",
    );
    // a field that does not belong to the step's kind
    let t = text.replace(
        "  - kind: control-plane\n",
        "  - kind: control-plane\n    batchSize: 2\n",
    );
    expect_error(
        check(&t, &live),
        line_of(&t, "batchSize: 2"),
        "steps[1].batchSize",
        "not a field of a control-plane step",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_writes_a_plan_that_check_accepts_and_refuses_a_broken_one() {
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let out = dir.path().join("plan.yaml");
    let (aws_url, region, cluster) = (sim.aws_url(), sim.aws_region(), sim.cluster_name().to_string());
    let log = dir.path().join("log");
    let run = move |args: Vec<String>| {
        let (kc, log) = (kc.clone(), log.clone());
        let (aws_url, region) = (aws_url.clone(), region.clone());
        tokio::task::spawn_blocking(move || {
            let o = common::bin::upshift()
                .arg("--log-file")
                .arg(&log)
                .arg("plan")
                .args(&args)
                .arg("--kubeconfig")
                .arg(&kc)
                .env("AWS_ENDPOINT_URL", aws_url)
                .env("AWS_REGION", region)
                .env("AWS_ACCESS_KEY_ID", "upshift-sim")
                .env("AWS_SECRET_ACCESS_KEY", "upshift-sim")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .output()
                .unwrap();
            let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
            (o.status.code(), text(&o.stdout), text(&o.stderr))
        })
    };
    let path = out.display().to_string();
    let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();

    let (code, _, stderr) = run(args(&format!(
        "--context viewer --target 1.35 --cluster {cluster} --environment pre-production -o {path}"
    )))
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("environment: pre-production"), "{written}");
    assert!(written.contains("context: viewer"), "{written}");
    assert!(written.contains("name: kube-proxy"), "{written}");
    assert!(stderr.contains("9 steps"), "{stderr}");

    // stdout without -o, and without --cluster: said loudly, at the top and on stderr
    let (code, stdout, stderr) = run(args("--context viewer --target 1.35")).await.unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("# WARNING: no EKS cluster known"), "{stdout}");
    assert!(stdout.contains("# upshift rollout plan"), "{stdout}");
    assert!(stderr.contains("give --cluster NAME"), "{stderr}");
    assert!(stdout.contains("name: batch"), "{stdout}");

    // two minors ahead: refused before anything is written
    let (code, _, stderr) = run(args("--context viewer --target 1.36")).await.unwrap();
    assert_eq!(code, Some(2));
    assert!(stderr.contains("plan --target 1.35 first"), "{stderr}");

    // check: the plan's own context and EKS region are used
    let (code, stdout, stderr) = run(args(&format!("check {path}"))).await.unwrap();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("valid against context \"viewer\""), "{stdout}");
    assert!(stdout.contains("with EKS's view"), "{stdout}");
    assert!(
        stdout.contains("nodegroup batch (self-managed, replace, batches of 1)"),
        "{stdout}"
    );

    let broken = replace_nth(&written, "batchSize: 1", "batchSize: 99", 1);
    std::fs::write(&out, &broken).unwrap();
    let (code, _, stderr) = run(args(&format!("check {path}"))).await.unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    let line = line_of(&broken, "batchSize: 99");
    assert!(
        stderr.contains(&format!(
            "{path}:{line}: step 6 (steps[5].batchSize): 99 is more than node group apps's 6 nodes"
        )),
        "{stderr}"
    );
    let missing = dir.path().join("nope.yaml").display().to_string();
    let (code, _, stderr) = run(args(&format!("check {missing}"))).await.unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("reading the plan"), "{stderr}");

    // a kubeconfig whose cluster entry is the EKS ARN (as `aws eks update-kubeconfig`
    // writes it): the cluster and region come from it, the add-ons are planned
    let arn = format!("arn:aws:eks:{}:123456789012:cluster/{cluster}", sim.aws_region());
    let kc_text = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    let kc_text = kc_text
        .replace(&format!("- name: {cluster}\n"), &format!("- name: {arn}\n"))
        .replace(&format!("cluster: {cluster}\n"), &format!("cluster: {arn}\n"));
    assert!(kc_text.contains(&arn), "{kc_text}");
    std::fs::write(dir.path().join("kubeconfig"), kc_text).unwrap();
    let (code, stdout, stderr) = run(args("--context viewer --target 1.35")).await.unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("WARNING"), "{stdout}");
    assert!(stdout.contains("name: kube-proxy"), "the add-ons are planned: {stdout}");

    assert_eq!(
        sim.request_counts().mutating("viewer"),
        0,
        "planning and checking only read"
    );
}
