"""Discover: find the instances a target's selector matches and which of them SSM can reach.

Event: ``{"runId", "waveIndex", "accountId", "region", "selector": {"tags": {...}}, "rerunOf"?}``. In a re-run
only the instances the earlier run did not patch are considered. Writes one INSTANCE item
per matched instance (reachable or not, with the reason) and returns counts only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import records, rerun
from handlers.common.aws import Clients
from handlers.common.batch import put_all
from handlers.common.events import Target, field, optional
from handlers.common.fleet import platform_of
from handlers.common.runtime import Env, entry_point, logger, metrics

# Terminated instances are gone; every other state is reported, reachable or not.
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
SSM_FILTER_BATCH = 50


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    target = Target.from_event(event)
    tags = field(event, "selector.tags", dict)
    rerun_of = optional(event, "rerunOf", str, "")
    only: list[str] | None = None
    if rerun_of:
        only = rerun.instances(clients.hub("dynamodb"), env.table_name, target.run_id, target.account_id, target.region)

    instances = dict(_matching_instances(target.spoke(clients, "ec2"), tags, only)) if only != [] else {}
    agents = _ssm_agents(target.spoke(clients, "ssm"), list(instances))
    expires = records.expires_at(now, env.retention_days)
    items = []
    counts = {"targeted": 0, "unreachable": 0, "linux": 0, "windows": 0}
    for instance_id, instance in sorted(instances.items()):
        reason = _unreachable_reason(instance, agents.get(instance_id))
        platform = platform_of(instance.get("Platform") or agents.get(instance_id, {}).get("PlatformType"))
        counts["unreachable" if reason else "targeted"] += 1
        counts[platform] += 0 if reason else 1
        items.append(
            {
                "pk": records.run_pk(target.run_id),
                "sk": records.instance_sk(target.account_id, target.region, instance_id),
                "waveIndex": target.wave_index,
                "accountId": target.account_id,
                "region": target.region,
                "instanceId": instance_id,
                "platform": platform,
                "name": _tag(instance, "Name"),
                "discovery": {"reachable": reason is None, "reason": reason or "", "state": instance["State"]["Name"]},
                "discoveredAt": records.iso(now),
                "expiresAt": expires,
            }
        )
    put_all(clients.hub("dynamodb"), env.table_name, items)
    logger.info("discovered", extra={**target.log_keys(), **counts})
    metrics.add_metric(name="InstancesTargeted", unit=MetricUnit.Count, value=counts["targeted"])
    metrics.add_metric(name="InstancesUnreachable", unit=MetricUnit.Count, value=counts["unreachable"])
    return {
        "targeted": counts["targeted"],
        "unreachable": counts["unreachable"],
        "platforms": {"linux": counts["linux"], "windows": counts["windows"]},
    }


def _matching_instances(
    ec2: Any, tags: Mapping[str, list[str]], only: list[str] | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    filters = [{"Name": f"tag:{key}", "Values": list(values)} for key, values in sorted(tags.items())]
    filters.append({"Name": "instance-state-name", "Values": LIVE_STATES})
    if only is not None:
        # A filter, not InstanceIds: an instance terminated since the earlier run is simply not found.
        filters.append({"Name": "instance-id", "Values": only})
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                yield instance["InstanceId"], instance


def _ssm_agents(ssm: Any, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    """SSM's view (PingStatus, PlatformType) of the given instances; absent ones are not managed."""
    agents: dict[str, dict[str, Any]] = {}
    paginator = ssm.get_paginator("describe_instance_information")
    for start in range(0, len(instance_ids), SSM_FILTER_BATCH):
        batch = instance_ids[start : start + SSM_FILTER_BATCH]
        for page in paginator.paginate(Filters=[{"Key": "InstanceIds", "Values": batch}]):
            for info in page["InstanceInformationList"]:
                agents[info["InstanceId"]] = info
    return agents


def _unreachable_reason(instance: Mapping[str, Any], agent: Mapping[str, Any] | None) -> str | None:
    state = instance["State"]["Name"]
    if state != "running":
        return f"instance-{state}"
    if agent is None:
        return "not-managed-by-ssm"
    if agent.get("PingStatus") != "Online":
        return f"ssm-{str(agent.get('PingStatus', 'unknown')).lower()}"
    return None


def _tag(instance: Mapping[str, Any], key: str) -> str:
    return next((tag["Value"] for tag in instance.get("Tags", []) if tag["Key"] == key), "")


lambda_handler = entry_point(handle)
