"""CloudWatch through boto3 in all three protocols CloudWatch accepts: awsJson1_0
(boto3's own choice), the query protocol and Smithy RPCv2 CBOR (the client's model
pointed at each in turn), every operation the simulator serves, and its errors."""

import copy
import datetime
import json
import os
import tempfile

import boto3
import botocore.loaders
import botocore.session

from simctl import Sim, check, done, expect_error, ran

sim = Sim.from_args()

WIRE = {"json": "json", "query": "query", "cbor": "smithy-rpc-v2-cbor"}
CONTENT = {"json": "application/x-amz-json-1.0", "query": "application/x-www-form-urlencoded", "cbor": "application/cbor"}


def client(protocol):
    bs = botocore.session.get_session()
    if protocol != "json":
        model = copy.deepcopy(botocore.loaders.Loader().load_service_model("cloudwatch", "service-2"))
        model["metadata"]["protocol"] = WIRE[protocol]
        model["metadata"]["protocols"] = [WIRE[protocol]]
        d = tempfile.mkdtemp()
        api = model["metadata"]["apiVersion"]
        os.makedirs(os.path.join(d, "cloudwatch", api))
        with open(os.path.join(d, "cloudwatch", api, "service-2.json"), "w") as f:
            json.dump(model, f)
        bs.get_component("data_loader").search_paths.insert(0, d)
    c = boto3.session.Session(botocore_session=bs).client("cloudwatch")
    sent = []
    c.meta.events.register("before-send.cloudwatch", lambda request, **kw: sent.append(request.headers.get("Content-Type", b"")))
    return c, sent


for protocol in ["json", "query", "cbor"]:
    cw, sent = client(protocol)
    now = sim.now()
    ns = "Upshift/Boto3"
    dims = [{"Name": "Protocol", "Value": protocol}]
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "latency", "Dimensions": dims, "Value": 42.0, "Timestamp": now}])
    ran("PutMetricData")
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(minutes=5)
    r = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "lat",
                "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "latency", "Dimensions": dims}, "Period": 60, "Stat": "Maximum"},
            },
            {
                "Id": "nodes",
                "MetricStat": {
                    "Metric": {"Namespace": "ContainerInsights", "MetricName": "cluster_node_count", "Dimensions": [{"Name": "ClusterName", "Value": "demo"}]},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            },
        ],
        StartTime=start - datetime.timedelta(minutes=30),
        EndTime=end,
    )
    ran("GetMetricData")
    res = {x["Id"]: x for x in r["MetricDataResults"]}
    check(res["lat"]["Values"] == [42.0], f"{protocol}: GetMetricData gave {res['lat']}")
    check(len(res["lat"]["Timestamps"]) == 1 and isinstance(res["lat"]["Timestamps"][0], datetime.datetime), f"{protocol}: timestamps {res['lat']}")
    check(res["nodes"]["Values"] and res["nodes"]["Values"][0] == 12.0, f"{protocol}: node count {res['nodes']}")
    r = cw.get_metric_statistics(Namespace=ns, MetricName="latency", Dimensions=dims, StartTime=start, EndTime=end, Period=60, Statistics=["Maximum", "SampleCount"])
    ran("GetMetricStatistics")
    check(len(r["Datapoints"]) == 1 and r["Datapoints"][0]["Maximum"] == 42.0 and r["Datapoints"][0]["SampleCount"] == 1.0, f"{protocol}: {r['Datapoints']}")
    r = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Protocol", "Value": protocol}])
    ran("ListMetrics")
    check([m["MetricName"] for m in r["Metrics"]] == ["latency"], f"{protocol}: ListMetrics {r['Metrics']}")
    r = cw.describe_alarms()
    ran("DescribeAlarms")
    check("demo-nodes-not-ready" in [a["AlarmName"] for a in r["MetricAlarms"]], f"{protocol}: alarms {r['MetricAlarms']}")
    name = f"boto3-{protocol}"
    cw.put_metric_alarm(
        AlarmName=name, Namespace=ns, MetricName="latency", Dimensions=dims, Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=100.0, ComparisonOperator="GreaterThanThreshold",
    )
    ran("PutMetricAlarm")
    a = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    check(len(a) == 1 and a[0]["Threshold"] == 100.0 and a[0]["StateValue"] == "OK", f"{protocol}: new alarm {a}")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="rehearsal")
    ran("SetAlarmState")
    a = cw.describe_alarms(AlarmNames=[name], StateValue="ALARM")["MetricAlarms"]
    check(len(a) == 1 and a[0]["StateReason"] == "rehearsal", f"{protocol}: alarm state {a}")
    cw.delete_alarms(AlarmNames=[name])
    ran("DeleteAlarms")
    check(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == [], f"{protocol}: alarm not deleted")
    # errors, in this protocol's shape
    expect_error("InvalidParameterValue", cw.get_metric_statistics, Namespace=ns, MetricName="latency", StartTime=end, EndTime=start, Period=60, Statistics=["Sum"])
    expect_error("ResourceNotFound", cw.set_alarm_state, AlarmName="no-such-alarm", StateValue="OK", StateReason="x")
    expect_error("InvalidParameterValue", cw.put_metric_data, Namespace="AWS/EC2", MetricData=[{"MetricName": "x", "Value": 1.0}])
    types = {t.decode() if isinstance(t, bytes) else t for t in sent}
    check(all(t.startswith(CONTENT[protocol]) for t in types), f"{protocol}: requests were sent as {types}")
    print(f"cloudwatch over {protocol}: ok ({len(sent)} requests)")

done("cloudwatch")
