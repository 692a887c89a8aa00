"""Auto Scaling through boto3: every operation the simulator serves, lifecycle hooks
from creation through Terminating:Wait, heartbeat and completion to
Terminating:Proceed, and the errors AWS gives for bad hooks, tokens and instances."""

import boto3

from simctl import Sim, check, done, expect_error, ran

sim = Sim.from_args()
asg = boto3.client("autoscaling")
ASG = "batch"  # the demo's self-managed group

groups = asg.describe_auto_scaling_groups()["AutoScalingGroups"]
ran("DescribeAutoScalingGroups")
check(ASG in [g["AutoScalingGroupName"] for g in groups], f"groups: {[g['AutoScalingGroupName'] for g in groups]}")
g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]
ids = [i["InstanceId"] for i in g["Instances"]]
check(len(ids) == 3 and all(i["LifecycleState"] == "InService" for i in g["Instances"]), f"instances: {g['Instances']}")

types = asg.describe_lifecycle_hook_types()["LifecycleHookTypes"]
ran("DescribeLifecycleHookTypes")
check(sorted(types) == ["autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"], f"hook types {types}")

# hooks: create, read, change
asg.put_lifecycle_hook(
    LifecycleHookName="drain", AutoScalingGroupName=ASG, LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
    HeartbeatTimeout=300, DefaultResult="CONTINUE",
)
ran("PutLifecycleHook")
hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=ASG)["LifecycleHooks"]
ran("DescribeLifecycleHooks")
check(len(hooks) == 1, f"hooks {hooks}")
h = hooks[0]
check((h["LifecycleHookName"], h["HeartbeatTimeout"], h["GlobalTimeout"], h["DefaultResult"]) == ("drain", 300, 30000, "CONTINUE"), f"hook {h}")
asg.put_lifecycle_hook(LifecycleHookName="drain", AutoScalingGroupName=ASG, HeartbeatTimeout=3600)
h = asg.describe_lifecycle_hooks(AutoScalingGroupName=ASG, LifecycleHookNames=["drain"])["LifecycleHooks"][0]
check((h["HeartbeatTimeout"], h["GlobalTimeout"], h["LifecycleTransition"]) == (3600, 172800, "autoscaling:EC2_INSTANCE_TERMINATING"), f"changed hook {h}")
asg.put_lifecycle_hook(LifecycleHookName="boot", AutoScalingGroupName=ASG, LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING")
h = asg.describe_lifecycle_hooks(AutoScalingGroupName=ASG, LifecycleHookNames=["boot"])["LifecycleHooks"][0]
check((h["HeartbeatTimeout"], h["DefaultResult"]) == (3600, "ABANDON"), f"defaults {h}")
expect_error("ValidationError", asg.put_lifecycle_hook, LifecycleHookName="x", AutoScalingGroupName=ASG,
             LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING", HeartbeatTimeout=10, contains="between 30 and 7200")
expect_error("ValidationError", asg.put_lifecycle_hook, LifecycleHookName="x", AutoScalingGroupName=ASG,
             LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING", DefaultResult="MAYBE")
expect_error("ValidationError", asg.put_lifecycle_hook, LifecycleHookName="x", AutoScalingGroupName=ASG)
expect_error("ValidationError", asg.put_lifecycle_hook, LifecycleHookName="x", AutoScalingGroupName="nope",
             LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING", contains="nope")

# an instance terminated through the hook waits, then proceeds
r = asg.describe_auto_scaling_instances(InstanceIds=ids)
ran("DescribeAutoScalingInstances")
check([i["LifecycleState"] for i in r["AutoScalingInstances"]] == ["InService"] * 3, f"{r['AutoScalingInstances']}")
victim = ids[0]
a = asg.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=False)["Activity"]
ran("TerminateInstanceInAutoScalingGroup")
check(victim in a["Description"], f"activity {a}")
state = asg.describe_auto_scaling_instances(InstanceIds=[victim])["AutoScalingInstances"][0]["LifecycleState"]
check(state == "Terminating:Wait", f"after terminate: {state}")
g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]
fresh = [i for i in g["Instances"] if i["InstanceId"] not in ids]
check(len(fresh) == 1 and fresh[0]["LifecycleState"] == "Pending:Wait", f"the replacement waits on the launching hook: {fresh}")
actions = [x for x in sim.lifecycle_actions() if x["EC2InstanceId"] == victim]
check(len(actions) == 1 and actions[0]["LifecycleHookName"] == "drain", f"actions {actions}")
token = actions[0]["LifecycleActionToken"]
asg.record_lifecycle_action_heartbeat(LifecycleHookName="drain", AutoScalingGroupName=ASG, InstanceId=victim)
asg.record_lifecycle_action_heartbeat(LifecycleHookName="drain", AutoScalingGroupName=ASG, LifecycleActionToken=token)
ran("RecordLifecycleActionHeartbeat")
expect_error("ValidationError", asg.complete_lifecycle_action, LifecycleHookName="drain", AutoScalingGroupName=ASG,
             LifecycleActionToken="00000000-0000-4000-8000-000000000000", LifecycleActionResult="CONTINUE",
             contains="No active Lifecycle Action found with token")
expect_error("ValidationError", asg.complete_lifecycle_action, LifecycleHookName="drain", AutoScalingGroupName=ASG,
             InstanceId=ids[1], LifecycleActionResult="CONTINUE", contains="No active Lifecycle Action found with instance ID")
expect_error("ValidationError", asg.complete_lifecycle_action, LifecycleHookName="nope", AutoScalingGroupName=ASG,
             InstanceId=victim, LifecycleActionResult="CONTINUE")
asg.complete_lifecycle_action(LifecycleHookName="drain", AutoScalingGroupName=ASG, LifecycleActionToken=token, LifecycleActionResult="CONTINUE")
ran("CompleteLifecycleAction")
g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]
state = {i["InstanceId"]: i["LifecycleState"] for i in g["Instances"]}
check(state.get(victim) == "Terminating:Proceed", f"after completion: {state}")
expect_error("ValidationError", asg.record_lifecycle_action_heartbeat, LifecycleHookName="drain", AutoScalingGroupName=ASG, LifecycleActionToken=token)

asg.delete_lifecycle_hook(LifecycleHookName="drain", AutoScalingGroupName=ASG)
asg.delete_lifecycle_hook(LifecycleHookName="boot", AutoScalingGroupName=ASG)
ran("DeleteLifecycleHook")
check(asg.describe_lifecycle_hooks(AutoScalingGroupName=ASG)["LifecycleHooks"] == [], "hooks left after delete")
expect_error("ValidationError", asg.delete_lifecycle_hook, LifecycleHookName="drain", AutoScalingGroupName=ASG, contains="No Lifecycle Hook found")

# the rest
asg.set_instance_protection(AutoScalingGroupName=ASG, InstanceIds=[ids[1]], ProtectedFromScaleIn=True)
ran("SetInstanceProtection")
i = asg.describe_auto_scaling_instances(InstanceIds=[ids[1]])["AutoScalingInstances"][0]
check(i["ProtectedFromScaleIn"] is True, f"protection {i}")
asg.create_or_update_tags(Tags=[{"ResourceId": ASG, "ResourceType": "auto-scaling-group", "Key": "team", "Value": "infra", "PropagateAtLaunch": False}])
ran("CreateOrUpdateTags")
tags = {t["Key"]: t["Value"] for t in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]["Tags"]}
check(tags.get("team") == "infra", f"tags {tags}")
asg.delete_tags(Tags=[{"ResourceId": ASG, "ResourceType": "auto-scaling-group", "Key": "team"}])
ran("DeleteTags")
acts = asg.describe_scaling_activities(AutoScalingGroupName=ASG)["Activities"]
ran("DescribeScalingActivities")
check(any(victim in x["Description"] for x in acts), f"activities {acts}")
rid = asg.start_instance_refresh(AutoScalingGroupName=ASG, Preferences={"MinHealthyPercentage": 60, "InstanceWarmup": 30})["InstanceRefreshId"]
ran("StartInstanceRefresh")
refs = asg.describe_instance_refreshes(AutoScalingGroupName=ASG)["InstanceRefreshes"]
ran("DescribeInstanceRefreshes")
check(refs[0]["InstanceRefreshId"] == rid and refs[0]["Preferences"]["MinHealthyPercentage"] == 60, f"refreshes {refs}")
expect_error("InstanceRefreshInProgress", asg.start_instance_refresh, AutoScalingGroupName=ASG)
check(asg.cancel_instance_refresh(AutoScalingGroupName=ASG)["InstanceRefreshId"] == rid, "cancel")
ran("CancelInstanceRefresh")
expect_error("ValidationError", asg.terminate_instance_in_auto_scaling_group, InstanceId="i-0000000000000000", ShouldDecrementDesiredCapacity=False)

done("autoscaling")
