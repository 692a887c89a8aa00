"""The simulator's AWS fault knobs through boto3: POST /sim/aws-faults makes one
operation per service always throttled, then always a server error, and each comes
back in its protocol's shape (EKS ThrottlingException/ServerException, Auto Scaling
and CloudWatch Throttling/InternalFailure)."""

import boto3
import botocore.config
import botocore.exceptions

from simctl import Sim, check, done, ran

sim = Sim.from_args()
once = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
eks = boto3.client("eks", config=once)
asg = boto3.client("autoscaling", config=once)
cw = boto3.client("cloudwatch", config=once)

calls = [
    ("ListClusters", lambda: eks.list_clusters(), "ThrottlingException", "ServerException", 429),
    ("DescribeLifecycleHookTypes", lambda: asg.describe_lifecycle_hook_types(), "Throttling", "InternalFailure", 400),
    ("ListMetrics", lambda: cw.list_metrics(), "Throttling", "InternalFailure", 400),
]


def error_of(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


for op, fn, throttled, failed, throttle_status in calls:
    sim.call("POST", "/sim/aws-faults", {"seed": 3, "rules": [{"operation": op, "throttle": 1.0}]})
    check(error_of(fn) == (throttled, throttle_status), f"{op} throttled: {error_of(fn)}")
    sim.call("POST", "/sim/aws-faults", {"rules": [{"operation": op, "serverError": 1.0}]})
    check(error_of(fn) == (failed, 500), f"{op} failing: {error_of(fn)}")
    sim.call("POST", "/sim/aws-faults", {"rules": []})
    check(error_of(fn) == (None, 200), f"{op} after the faults were cleared: {error_of(fn)}")
    ran(op)

shown = sim.call("GET", "/sim/aws-faults")
check(shown["rules"] == [] and shown["injected"]["ListClusters"]["throttled"] >= 1, f"GET /sim/aws-faults: {shown}")
done("faults")
