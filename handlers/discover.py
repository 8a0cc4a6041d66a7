"""Discover: find the instances a target's selector matches and which of them SSM can reach.

Event: ``{"runId", "executionId", "waveIndex", "accountId", "region"}``; the selector and the earlier run of a
re-run come from the run's stored plan (``handlers.domain.guard``). In a re-run only the instances the earlier run
did not patch are considered. Writes one INSTANCE item per matched instance (reachable or not, with the reason)
and returns counts only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract.environment import DiscoverEnv
from handlers.contract.table import instance_sk, run_pk
from handlers.domain import guard
from handlers.domain.fleet import platform_of
from handlers.domain.target import TargetEvent
from handlers.records.codec import expires_at, iso
from handlers.records.items import InstanceRecord
from handlers.records.repository import RunTable
from handlers.runtime.clients import FleetClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, InstanceTypeDef
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import InstanceInformationTypeDef

# Terminated instances are gone; every other state is reported, reachable or not.
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
SSM_FILTER_BATCH = 50


@dataclass(frozen=True, kw_only=True)
class DiscoverEvent(TargetEvent):
    pass


def handle(event: dict[str, Any], *, env: DiscoverEnv, clients: FleetClients, now: datetime) -> dict[str, Any]:
    request = read_event(DiscoverEvent, event)
    target = request.target
    runs = RunTable(clients.dynamodb(), env.table_name)
    plan = guard.authorise(runs, target, execution_id=request.execution_id)
    only: list[str] | None = None
    if plan.rerun_of:
        only = runs.rerun_instances(target.run_id, target.account_id, target.region)

    spoke = clients.spoke(target)
    instances = dict(_matching_instances(spoke.ec2(), plan.selector.tags, only)) if only != [] else {}
    agents = _ssm_agents(spoke.ssm(), list(instances))
    expires = expires_at(now, env.retention_days)
    items: list[InstanceRecord] = []
    counts = {"targeted": 0, "unreachable": 0, "linux": 0, "windows": 0}
    for instance_id, instance in sorted(instances.items()):
        agent = agents.get(instance_id)
        reason = _unreachable_reason(instance, agent)
        platform = platform_of(instance.get("Platform") or (agent or {}).get("PlatformType"))
        counts["unreachable" if reason else "targeted"] += 1
        counts[platform] += 0 if reason else 1
        items.append(
            {
                "pk": run_pk(target.run_id),
                "sk": instance_sk(target.account_id, target.region, instance_id),
                "waveIndex": target.wave_index,
                "accountId": target.account_id,
                "region": target.region,
                "instanceId": instance_id,
                "platform": platform,
                "name": _tag(instance, "Name"),
                "discovery": {"reachable": reason is None, "reason": reason or "", "state": instance["State"]["Name"]},
                "discoveredAt": iso(now),
                "expiresAt": expires,
            }
        )
    runs.put_instances(items)
    logger.info("discovered", extra={**target.log_keys(), **counts})
    metrics.add_metric(name="InstancesTargeted", unit=MetricUnit.Count, value=counts["targeted"])
    metrics.add_metric(name="InstancesUnreachable", unit=MetricUnit.Count, value=counts["unreachable"])
    return {
        "targeted": counts["targeted"],
        "unreachable": counts["unreachable"],
        "platforms": {"linux": counts["linux"], "windows": counts["windows"]},
    }


def _matching_instances(
    ec2: EC2Client, tags: Mapping[str, Sequence[str]], only: list[str] | None
) -> Iterator[tuple[str, InstanceTypeDef]]:
    filters: list[FilterTypeDef] = [
        {"Name": f"tag:{key}", "Values": list(values)} for key, values in sorted(tags.items())
    ]
    filters.append({"Name": "instance-state-name", "Values": LIVE_STATES})
    if only is not None:
        # A filter, not InstanceIds: an instance terminated since the earlier run is simply not found.
        filters.append({"Name": "instance-id", "Values": only})
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                yield instance["InstanceId"], instance


def _ssm_agents(ssm: SSMClient, instance_ids: list[str]) -> dict[str, InstanceInformationTypeDef]:
    """SSM's view (PingStatus, PlatformType) of the given instances; absent ones are not managed."""
    agents: dict[str, InstanceInformationTypeDef] = {}
    paginator = ssm.get_paginator("describe_instance_information")
    for start in range(0, len(instance_ids), SSM_FILTER_BATCH):
        batch = instance_ids[start : start + SSM_FILTER_BATCH]
        for page in paginator.paginate(Filters=[{"Key": "InstanceIds", "Values": batch}]):
            for info in page["InstanceInformationList"]:
                agents[info["InstanceId"]] = info
    return agents


def _unreachable_reason(instance: InstanceTypeDef, agent: InstanceInformationTypeDef | None) -> str | None:
    state = instance["State"]["Name"]
    if state != "running":
        return f"instance-{state}"
    if agent is None:
        return "not-managed-by-ssm"
    if agent.get("PingStatus") != "Online":
        return f"ssm-{str(agent.get('PingStatus', 'unknown')).lower()}"
    return None


def _tag(instance: InstanceTypeDef, key: str) -> str:
    return next((tag["Value"] for tag in instance.get("Tags", []) if tag["Key"] == key), "")


lambda_handler = entry_point(handle, DiscoverEnv)
