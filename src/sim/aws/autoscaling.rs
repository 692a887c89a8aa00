//! Auto Scaling over the query protocol: form-encoded requests, XML responses and
//! `ErrorResponse` bodies, for the node groups' Auto Scaling groups.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::AwsApp;
use crate::sim::world::eks::{self as cloud, AwsError};
use crate::sim::world::lifecycle::{self, Hook, PutHook, Transition};
use crate::sim::world::refresh::{self, Activity, InstanceRefresh, RefreshPreferences};
use crate::sim::world::{InstanceState, World, minor_of};

const XMLNS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/// Escapes text for XML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>`, escaped.
fn el(name: &str, text: impl std::fmt::Display) -> String {
    format!("<{name}>{}</{name}>", esc(&text.to_string()))
}

fn iso(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn xml_response(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "text/xml")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn error(e: &AwsError, rid: &str) -> Response<Body> {
    let code = if e.code == "ThrottlingException" {
        "Throttling"
    } else {
        e.code
    };
    let kind = if e.status >= 500 { "Receiver" } else { "Sender" };
    xml_response(
        e.status,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error>{}{}{}</Error>{}</ErrorResponse>",
            el("Type", kind),
            el("Code", code),
            el("Message", &e.message),
            el("RequestId", rid)
        ),
    )
}

fn ok(action: &str, result: &str, rid: &str) -> Response<Body> {
    xml_response(
        200,
        format!(
            "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result><ResponseMetadata>{}</ResponseMetadata></{action}Response>",
            el("RequestId", rid)
        ),
    )
}

/// Form parameters of a query request.
struct Params(BTreeMap<String, String>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    fn required(&self, k: &str) -> Result<&str, AwsError> {
        self.get(k).ok_or_else(|| {
            AwsError::new(
                "ValidationError",
                400,
                format!("1 validation error detected: Value null at '{k}' failed to satisfy constraint: Member must not be null"),
            )
        })
    }
    /// `Prefix.member.1`, `Prefix.member.2`, … in order.
    fn members(&self, prefix: &str) -> Vec<String> {
        let mut out: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.strip_prefix(".member.")?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, v)| v).collect()
    }
    /// Indexes N of `Prefix.member.N.…` in order.
    fn member_indexes(&self, prefix: &str) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .0
            .keys()
            .filter_map(|k| {
                k.strip_prefix(prefix)?
                    .strip_prefix(".member.")?
                    .split('.')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Serves one Auto Scaling request.
pub fn handle(app: &AwsApp, body: &[u8]) -> Response<Body> {
    let params = Params(form_urlencoded::parse(body).into_owned().collect());
    let mut w = app.world.lock();
    w.stamp();
    let rid = super::request_id(&mut w);
    let action = params.get("Action").unwrap_or_default().to_string();
    if let Err(e) = cloud::admit(&mut w, &action) {
        return error(&e, &rid);
    }
    let result = run(&mut w, &action, &params);
    w.reconcile();
    match result {
        Ok(xml) => ok(&action, &xml, &rid),
        Err(e) => error(&e, &rid),
    }
}

fn run(w: &mut World, action: &str, p: &Params) -> Result<String, AwsError> {
    match action {
        "DescribeAutoScalingGroups" => {
            let names = p.members("AutoScalingGroupNames");
            let mut out = String::from("<AutoScalingGroups>");
            for gi in 0..w.groups.len() {
                if names.is_empty() || names.contains(&w.groups[gi].asg_name) {
                    out.push_str(&group(w, gi));
                }
            }
            out.push_str("</AutoScalingGroups>");
            Ok(out)
        }
        "StartInstanceRefresh" => {
            let asg = p.required("AutoScalingGroupName")?.to_string();
            let num = |k: &str| p.get(&format!("Preferences.{k}")).and_then(|v| v.parse::<u32>().ok());
            let defaults = RefreshPreferences::default();
            let prefs = RefreshPreferences {
                min_healthy_percentage: num("MinHealthyPercentage").unwrap_or(defaults.min_healthy_percentage),
                instance_warmup: num("InstanceWarmup").unwrap_or(defaults.instance_warmup),
                checkpoint_percentages: p
                    .members("Preferences.CheckpointPercentages")
                    .iter()
                    .filter_map(|v| v.parse().ok())
                    .collect(),
                checkpoint_delay: num("CheckpointDelay").unwrap_or(defaults.checkpoint_delay),
                skip_matching: p.get("Preferences.SkipMatching") == Some("true"),
            };
            let id = refresh::start(w, &asg, prefs)?;
            Ok(el("InstanceRefreshId", id))
        }
        "DescribeInstanceRefreshes" => {
            let asg = p.required("AutoScalingGroupName")?.to_string();
            let ids = p.members("InstanceRefreshIds");
            let mut out = String::from("<InstanceRefreshes>");
            for r in w.aws.refresh.refreshes.iter().rev() {
                if r.asg == asg && (ids.is_empty() || ids.contains(&r.id)) {
                    out.push_str(&instance_refresh(r));
                }
            }
            out.push_str("</InstanceRefreshes>");
            Ok(out)
        }
        "CancelInstanceRefresh" => {
            let id = refresh::cancel(w, p.required("AutoScalingGroupName")?)?;
            Ok(el("InstanceRefreshId", id))
        }
        "TerminateInstanceInAutoScalingGroup" => {
            let id = p.required("InstanceId")?.to_string();
            let decrement = p.get("ShouldDecrementDesiredCapacity") == Some("true");
            let a = refresh::terminate_instance(w, &id, decrement)?;
            Ok(format!("<Activity>{}</Activity>", activity(&a)))
        }
        "SetInstanceProtection" => {
            let asg = p.required("AutoScalingGroupName")?.to_string();
            let protect = p.required("ProtectedFromScaleIn")? == "true";
            refresh::set_protection(w, &asg, &p.members("InstanceIds"), protect)?;
            Ok(String::new())
        }
        "DescribeScalingActivities" => {
            let asg = p.get("AutoScalingGroupName");
            let max: usize = p.get("MaxRecords").and_then(|v| v.parse().ok()).unwrap_or(100);
            let mut out = String::from("<Activities>");
            for a in w
                .aws
                .refresh
                .activities
                .iter()
                .rev()
                .filter(|a| asg.is_none_or(|n| n == a.asg))
                .take(max)
            {
                let _ = write!(out, "<member>{}</member>", activity(a));
            }
            out.push_str("</Activities>");
            Ok(out)
        }
        "CreateOrUpdateTags" | "DeleteTags" => {
            let mut by_group: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
            for n in p.member_indexes("Tags") {
                let f = |k: &str| p.get(&format!("Tags.member.{n}.{k}")).unwrap_or_default().to_string();
                by_group.entry(f("ResourceId")).or_default().push((
                    f("Key"),
                    f("Value"),
                    f("PropagateAtLaunch") == "true",
                ));
            }
            for (asg, tags) in by_group {
                refresh::tag(w, &asg, &tags, action == "DeleteTags")?;
            }
            Ok(String::new())
        }
        "PutLifecycleHook" => {
            let num = |k: &str| -> Result<Option<u32>, AwsError> {
                p.get(k)
                    .map(|v| {
                        v.parse::<u32>().map_err(|_| {
                            AwsError::new("ValidationError", 400, format!("{k} {v:?} is not a number of seconds"))
                        })
                    })
                    .transpose()
            };
            let text = |k: &str| p.get(k).map(str::to_string);
            lifecycle::put_hook(
                w,
                p.required("AutoScalingGroupName")?,
                p.required("LifecycleHookName")?,
                PutHook {
                    transition: text("LifecycleTransition"),
                    heartbeat_timeout: num("HeartbeatTimeout")?,
                    default_result: text("DefaultResult"),
                    notification_target_arn: text("NotificationTargetARN"),
                    role_arn: text("RoleARN"),
                    notification_metadata: text("NotificationMetadata"),
                },
            )?;
            Ok(String::new())
        }
        "DescribeLifecycleHooks" => {
            let hooks =
                lifecycle::describe_hooks(w, p.required("AutoScalingGroupName")?, &p.members("LifecycleHookNames"))?;
            let mut out = String::from("<LifecycleHooks>");
            for h in &hooks {
                out.push_str(&hook(h));
            }
            out.push_str("</LifecycleHooks>");
            Ok(out)
        }
        "DeleteLifecycleHook" => {
            lifecycle::delete_hook(w, p.required("AutoScalingGroupName")?, p.required("LifecycleHookName")?)?;
            Ok(String::new())
        }
        "CompleteLifecycleAction" => {
            lifecycle::complete(
                w,
                p.required("AutoScalingGroupName")?,
                p.required("LifecycleHookName")?,
                p.get("LifecycleActionToken"),
                p.get("InstanceId"),
                p.required("LifecycleActionResult")?,
            )?;
            Ok(String::new())
        }
        "RecordLifecycleActionHeartbeat" => {
            lifecycle::heartbeat(
                w,
                p.required("AutoScalingGroupName")?,
                p.required("LifecycleHookName")?,
                p.get("LifecycleActionToken"),
                p.get("InstanceId"),
            )?;
            Ok(String::new())
        }
        "DescribeLifecycleHookTypes" => Ok(format!(
            "<LifecycleHookTypes>{}{}</LifecycleHookTypes>",
            el("member", Transition::Launching.as_str()),
            el("member", Transition::Terminating.as_str())
        )),
        "DescribeAutoScalingInstances" => {
            let ids = p.members("InstanceIds");
            let max: usize = p.get("MaxRecords").and_then(|v| v.parse().ok()).unwrap_or(50);
            let mut out = String::from("<AutoScalingInstances>");
            let mut n = 0;
            for g in &w.groups {
                for i in &g.instances {
                    if n >= max || !(ids.is_empty() || ids.contains(&i.id)) {
                        continue;
                    }
                    n += 1;
                    let _ = write!(
                        out,
                        "<member>{}{}{}{}{}{}<LaunchTemplate>{}{}{}</LaunchTemplate>{}</member>",
                        el("InstanceId", &i.id),
                        el("InstanceType", &g.instance_type),
                        el("AutoScalingGroupName", &g.asg_name),
                        el("AvailabilityZone", &i.zone),
                        el("LifecycleState", lifecycle::state_of(w, &i.id, i.state)),
                        el("HealthStatus", health(i.state)),
                        el("LaunchTemplateId", template_id(&g.name)),
                        el("LaunchTemplateName", format!("{}-lt", g.name)),
                        el("Version", template_version(&i.version)),
                        el("ProtectedFromScaleIn", w.aws.refresh.protected.contains(&i.id)),
                    );
                }
            }
            out.push_str("</AutoScalingInstances>");
            Ok(out)
        }
        _ => Err(AwsError::new(
            "InvalidAction",
            400,
            format!("The action {action} is not valid for this web service (the simulator does not serve it)"),
        )),
    }
}

/// The launch template version a minor stands for ("1.31" → 31).
pub fn template_version(minor: &str) -> String {
    cloud::minor_number(&minor_of(minor)).unwrap_or(1).to_string()
}

fn group(w: &World, gi: usize) -> String {
    let g = &w.groups[gi];
    let created = w.aws.created.unwrap_or(w.now);
    let arn = format!(
        "arn:aws:autoscaling:{}:{}:autoScalingGroup:{:08x}-0000-4000-8000-000000000000:autoScalingGroupName/{}",
        w.cluster.region,
        w.cluster.account,
        crate::sim::world::fnv(g.asg_name.as_bytes()),
        g.asg_name
    );
    let template = format!("{}-lt", g.name);
    let template_id = template_id(&g.name);
    let mut out = String::from("<member>");
    out.push_str(&el("AutoScalingGroupName", &g.asg_name));
    out.push_str(&el("AutoScalingGroupARN", arn));
    out.push_str(&el("MinSize", g.min));
    out.push_str(&el("MaxSize", g.max));
    out.push_str(&el("DesiredCapacity", g.desired));
    out.push_str(&el("DefaultCooldown", 300));
    out.push_str("<AvailabilityZones>");
    for z in &g.zones {
        out.push_str(&el("member", z));
    }
    out.push_str("</AvailabilityZones>");
    out.push_str(&el("HealthCheckType", "EC2"));
    out.push_str(&el("HealthCheckGracePeriod", 15));
    out.push_str(&el("CreatedTime", iso(created)));
    let _ = write!(
        out,
        "<LaunchTemplate>{}{}{}</LaunchTemplate>",
        el("LaunchTemplateId", &template_id),
        el("LaunchTemplateName", &template),
        el("Version", template_version(&g.version))
    );
    out.push_str("<Instances>");
    for i in &g.instances {
        let state = lifecycle::state_of(w, &i.id, i.state);
        let _ = write!(
            out,
            "<member>{}{}{}{}{}<LaunchTemplate>{}{}</LaunchTemplate>{}</member>",
            el("InstanceId", &i.id),
            el("InstanceType", &g.instance_type),
            el("AvailabilityZone", &i.zone),
            el("LifecycleState", state),
            el("HealthStatus", health(i.state)),
            el("LaunchTemplateName", &template),
            el("Version", template_version(&i.version)),
            el("ProtectedFromScaleIn", w.aws.refresh.protected.contains(&i.id)),
        );
    }
    out.push_str("</Instances>");
    out.push_str("<Tags>");
    // the tags every group starts with are seeded into the world (seed_tags), so that
    // DeleteTags removes them here too
    let tags: BTreeMap<String, (String, bool)> = w.aws.refresh.tags.get(&g.asg_name).cloned().unwrap_or_default();
    for (k, (v, propagate)) in tags {
        let _ = write!(
            out,
            "<member>{}{}{}{}{}</member>",
            el("ResourceId", &g.asg_name),
            el("ResourceType", "auto-scaling-group"),
            el("Key", k),
            el("Value", v),
            el("PropagateAtLaunch", propagate)
        );
    }
    out.push_str("</Tags>");
    out.push_str("</member>");
    out
}

fn instance_refresh(r: &InstanceRefresh) -> String {
    let mut out = String::from("<member>");
    out.push_str(&el("InstanceRefreshId", &r.id));
    out.push_str(&el("AutoScalingGroupName", &r.asg));
    out.push_str(&el("Status", r.status.as_str()));
    if !r.status_reason.is_empty() {
        out.push_str(&el("StatusReason", &r.status_reason));
    }
    out.push_str(&el("StartTime", iso(r.start)));
    if let Some(end) = r.end {
        out.push_str(&el("EndTime", iso(end)));
    }
    out.push_str(&el("PercentageComplete", r.percentage_complete()));
    out.push_str(&el("InstancesToUpdate", r.instances_to_update()));
    let p = &r.preferences;
    out.push_str("<Preferences>");
    out.push_str(&el("MinHealthyPercentage", p.min_healthy_percentage));
    out.push_str(&el("InstanceWarmup", p.instance_warmup));
    out.push_str("<CheckpointPercentages>");
    for c in &p.checkpoint_percentages {
        out.push_str(&el("member", c));
    }
    out.push_str("</CheckpointPercentages>");
    out.push_str(&el("CheckpointDelay", p.checkpoint_delay));
    out.push_str(&el("SkipMatching", p.skip_matching));
    out.push_str("</Preferences>");
    out.push_str("</member>");
    out
}

fn activity(a: &Activity) -> String {
    format!(
        "{}{}{}{}{}{}{}",
        el("ActivityId", &a.id),
        el("AutoScalingGroupName", &a.asg),
        el("Description", &a.description),
        el("Cause", &a.cause),
        el("StartTime", iso(a.start)),
        el("StatusCode", a.status),
        el("Progress", 100)
    )
}

/// The health Auto Scaling reports for an instance in a state.
fn health(state: InstanceState) -> &'static str {
    if state == InstanceState::Terminating {
        "Unhealthy"
    } else {
        "Healthy"
    }
}

/// The id of a group's launch template.
fn template_id(group: &str) -> String {
    let template = format!("{group}-lt");
    format!("lt-0{:016x}", u64::from(crate::sim::world::fnv(template.as_bytes())))
}

fn hook(h: &Hook) -> String {
    let mut out = String::from("<member>");
    out.push_str(&el("LifecycleHookName", &h.name));
    out.push_str(&el("AutoScalingGroupName", &h.asg));
    out.push_str(&el("LifecycleTransition", h.transition.as_str()));
    if let Some(v) = &h.notification_target_arn {
        out.push_str(&el("NotificationTargetARN", v));
    }
    if let Some(v) = &h.role_arn {
        out.push_str(&el("RoleARN", v));
    }
    if let Some(v) = &h.notification_metadata {
        out.push_str(&el("NotificationMetadata", v));
    }
    out.push_str(&el("HeartbeatTimeout", h.heartbeat_timeout));
    out.push_str(&el("GlobalTimeout", h.global_timeout()));
    out.push_str(&el("DefaultResult", h.default_result.as_str()));
    out.push_str("</member>");
    out
}
