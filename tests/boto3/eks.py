"""EKS through boto3: every operation the simulator serves, node groups created,
reconfigured and deleted on the virtual clock, the version calendar, and the errors
EKS gives."""

import boto3

from simctl import Sim, check, done, expect_error, ran

sim = Sim.from_args()
eks = boto3.client("eks")
C = "demo"
# the demo scenario's control plane, and the minor it is upgraded to
FROM, TO = "1.34", "1.35"

check(eks.list_clusters()["clusters"] == [C], "ListClusters")
ran("ListClusters")
c = eks.describe_cluster(name=C)["cluster"]
ran("DescribeCluster")
check((c["version"], c["status"], c["upgradePolicy"]["supportType"]) == (FROM, "ACTIVE", "EXTENDED"), f"cluster {c}")
expect_error("ResourceNotFoundException", eks.describe_cluster, name="nope")

# the calendar
vs = eks.describe_cluster_versions()["clusterVersions"]
ran("DescribeClusterVersions")
check(vs and all(v["versionStatus"] in ("STANDARD_SUPPORT", "EXTENDED_SUPPORT") for v in vs), f"versions {vs}")
check(all(v["endOfStandardSupportDate"] < v["endOfExtendedSupportDate"] for v in vs), "support dates in order")
check(sum(1 for v in vs if v["defaultVersion"]) == 1, f"one default: {vs}")
every = eks.describe_cluster_versions(includeAll=True)["clusterVersions"]
check({"1.28", "1.29"} <= {v["clusterVersion"] for v in every} and len(every) >= len(vs), f"includeAll {every}")
one = eks.describe_cluster_versions(clusterVersions=["1.31"])["clusterVersions"]
check([v["clusterVersion"] for v in one] == ["1.31"] and one[0]["releaseDate"].year == 2024, f"1.31: {one}")
check(len(eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"]) == 1, "defaultOnly")

# managed node groups
check(sorted(eks.list_nodegroups(clusterName=C)["nodegroups"]) == ["apps", "system"], "ListNodegroups")
ran("ListNodegroups")
ng = eks.describe_nodegroup(clusterName=C, nodegroupName="apps")["nodegroup"]
ran("DescribeNodegroup")
check(ng["updateConfig"] == {"maxUnavailable": 1} and ng["amiType"] == "AL2023_x86_64_STANDARD" and ng["releaseVersion"].startswith(FROM + "."), f"apps {ng}")

create = dict(
    clusterName=C, nodegroupName="blue", nodeRole="arn:aws:iam::123456789012:role/node",
    subnets=["subnet-eu-west-1a", "subnet-eu-west-1b"], instanceTypes=["m5.large"],
    scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2}, labels={"role": "blue"},
    taints=[{"key": "dedicated", "value": "blue", "effect": "NO_SCHEDULE"}],
    updateConfig={"maxUnavailable": 2}, launchTemplate={"name": "blue-lt", "version": "3"},
)
ng = eks.create_nodegroup(**create)["nodegroup"]
ran("CreateNodegroup")
check(ng["status"] == "CREATING" and ng["launchTemplate"]["name"] == "blue-lt" and ng["updateConfig"] == {"maxUnavailable": 2}, f"created {ng}")
check(ng["taints"] == [{"key": "dedicated", "value": "blue", "effect": "NO_SCHEDULE"}], f"taints {ng['taints']}")
expect_error("ResourceInUseException", eks.create_nodegroup, **create)
expect_error("InvalidParameterException", eks.create_nodegroup, **{**create, "nodegroupName": "old", "version": "1.25"})
expect_error("InvalidParameterException", eks.create_nodegroup, **{**create, "nodegroupName": "odd", "scalingConfig": {"minSize": 3, "maxSize": 2, "desiredSize": 2}})
expect_error("InvalidParameterException", eks.create_nodegroup, **{**create, "nodegroupName": "both", "updateConfig": {"maxUnavailable": 1, "maxUnavailablePercentage": 10}})
for _ in range(10):
    if eks.describe_nodegroup(clusterName=C, nodegroupName="blue")["nodegroup"]["status"] == "ACTIVE":
        break
    sim.advance(30)
ng = eks.describe_nodegroup(clusterName=C, nodegroupName="blue")["nodegroup"]
check(ng["status"] == "ACTIVE", f"blue never became ACTIVE: {ng['status']}")

u = eks.update_nodegroup_config(
    clusterName=C, nodegroupName="blue",
    labels={"addOrUpdateLabels": {"tier": "web"}, "removeLabels": ["role"]},
    taints={"removeTaints": [{"key": "dedicated", "value": "blue", "effect": "NO_SCHEDULE"}]},
    scalingConfig={"minSize": 1, "maxSize": 5, "desiredSize": 3},
    updateConfig={"maxUnavailablePercentage": 50},
)["update"]
ran("UpdateNodegroupConfig")
params = {p["type"]: p["value"] for p in u["params"]}
check(u["type"] == "ConfigUpdate" and u["status"] == "InProgress", f"update {u}")
check(params.get("DesiredSize") == "3" and params.get("MaxUnavailablePercentage") == "50" and "LabelsToAdd" in params and "TaintsToRemove" in params, f"params {params}")
expect_error("InvalidParameterException", eks.update_nodegroup_config, clusterName="demo", nodegroupName="apps", scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 5})
check(u["id"] in eks.list_updates(name=C, nodegroupName="blue")["updateIds"], "ListUpdates names the config update")
ran("ListUpdates")
sim.advance(10)
u = eks.describe_update(name=C, updateId=u["id"], nodegroupName="blue")["update"]
ran("DescribeUpdate")
check(u["status"] == "Successful", f"config update {u}")
ng = eks.describe_nodegroup(clusterName=C, nodegroupName="blue")["nodegroup"]
check(ng["labels"] == {"tier": "web"} and ng["taints"] == [] and ng["scalingConfig"]["desiredSize"] == 3 and ng["updateConfig"] == {"maxUnavailablePercentage": 50}, f"after config {ng}")

ng = eks.delete_nodegroup(clusterName=C, nodegroupName="blue")["nodegroup"]
ran("DeleteNodegroup")
check(ng["status"] == "DELETING", f"deleting {ng}")
expect_error("ResourceInUseException", eks.delete_nodegroup, clusterName=C, nodegroupName="blue")
for _ in range(40):
    if "blue" not in eks.list_nodegroups(clusterName=C)["nodegroups"]:
        break
    sim.advance(30)
expect_error("ResourceNotFoundException", eks.describe_nodegroup, clusterName=C, nodegroupName="blue")

# control plane, node group version, add-ons
u = eks.update_cluster_version(name=C, version=TO)["update"]
ran("UpdateClusterVersion")
expect_error("ResourceInUseException", eks.update_cluster_version, name=C, version=TO)
sim.advance(15 * 60)
check(eks.describe_update(name=C, updateId=u["id"])["update"]["status"] == "Successful", "control plane update")
u = eks.update_nodegroup_version(clusterName=C, nodegroupName="system")["update"]
ran("UpdateNodegroupVersion")
check(u["type"] == "VersionUpdate" and {p["type"]: p["value"] for p in u["params"]}["Version"] == TO, f"{u}")
addons = eks.list_addons(clusterName=C)["addons"]
ran("ListAddons")
check({"coredns", "kube-proxy", "vpc-cni"} <= set(addons), f"addons {addons}")
a = eks.describe_addon(clusterName=C, addonName="kube-proxy")["addon"]
ran("DescribeAddon")
vs = eks.describe_addon_versions(addonName="kube-proxy", kubernetesVersion=TO)["addons"][0]["addonVersions"]
ran("DescribeAddonVersions")
target = next(v["addonVersion"] for v in vs if any(c["defaultVersion"] for c in v["compatibilities"]))
u = eks.update_addon(clusterName=C, addonName="kube-proxy", addonVersion=target)["update"]
ran("UpdateAddon")
check(u["type"] == "AddonUpdate", f"{u}")
expect_error("ResourceNotFoundException", eks.describe_addon, clusterName=C, addonName="nope")

ins = eks.list_insights(clusterName=C)["insights"]
ran("ListInsights")
check(ins and all(i["category"] in ("UPGRADE_READINESS", "MISCONFIGURATION") for i in ins), f"insights {ins}")
check(all(i["insightStatus"]["status"] in ("PASSING", "WARNING", "ERROR", "UNKNOWN") for i in ins), "statuses")
passing = eks.list_insights(clusterName=C, filter={"statuses": ["PASSING"]})["insights"]
check(all(i["insightStatus"]["status"] == "PASSING" for i in passing), "filter by status")
check(eks.list_insights(clusterName=C, filter={"categories": ["MISCONFIGURATION"]})["insights"] == [], "filter by category")
i = eks.describe_insight(clusterName=C, id=ins[0]["id"])["insight"]
ran("DescribeInsight")
check(i["id"] == ins[0]["id"] and "recommendation" in i, f"insight {i}")

done("eks")
