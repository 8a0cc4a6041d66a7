"""A simulated SSM fleet for moto: what moto's SSM lacks for patch-run rehearsals.

moto's SendCommand succeeds at once for every instance of a region, and it has no ListCommandInvocations,
CancelCommand or DescribeInstanceInformation. ``Fleet.install`` replaces those operations on moto's SSM
response class with a simulation over instances the test declares: tag targeting, managed/offline/unmanaged
agents, per-instance outcomes (Success, Failed, TimedOut, DeliveryTimedOut, or never finishing) that complete
on a virtual clock, paginated invocation listings, cancellation, and throttling on demand. Every SendCommand
request is kept for assertions.

Documents are the spoke's: its patch wrapper and its snapshot document. ``AWS-RunPatchBaseline`` itself is refused
with AccessDenied, as the spoke role refuses it (IAM cannot limit its parameters, so the role may not send it);
any other document does not exist. The wrapper's parameters are checked as SSM checks a document's declared
parameters: only those it declares, each within its allowed values.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from handlers.contract import conventions
from rehearsal.moto_shims import SsmOperation, SsmRequest, serve_ssm, ssm_error

NEVER = "Never"  # a Behaviour status: the invocation stays InProgress until cancelled
# Outcomes SSM reports as StatusDetails under a coarser Status (the CommandInvocationStatus enum has no
# DeliveryTimedOut, Undeliverable or Terminated).
DETAILED = {"DeliveryTimedOut": "TimedOut", "Undeliverable": "Failed", "Terminated": "Failed"}
IN_PROGRESS = "InProgress"
FAILED_STATUSES = {"Failed", "TimedOut", "Cancelled"}
PATCH_PLUGINS = {"Linux": "PatchLinux", "Windows": "PatchWindows"}
SNAPSHOT_PLUGINS = {"Linux": "LinuxSnapshot", "Windows": "WindowsSnapshot"}
OUTPUT_LIMIT = 24_000
INVOCATION_PAGE = 50
INSTANCE_INFORMATION_PAGE = 10
AMI = "ami-0123456789abcdef0"


class VirtualClock:
    """Time that only moves when the workflow waits (or a test says so)."""

    def __init__(self, start: datetime = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self._now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Behaviour:
    """How an instance answers one kind of command: final status, after how long, with what output."""

    status: str = "Success"
    seconds: int = 300
    response_code: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class SimInstance:
    account_id: str
    region: str
    instance_id: str
    platform: str  # "Linux" or "Windows"
    ping: str | None  # "Online", "ConnectionLost", or None when the SSM agent is not registered
    tags: dict[str, str]
    patch: Behaviour
    snapshot: Behaviour


@dataclass
class SimInvocation:
    instance: SimInstance
    behaviour: Behaviour
    plugin: str
    requested_at: datetime
    cancelled_at: datetime | None = None


@dataclass
class SimCommand:
    command_id: str
    account_id: str
    region: str
    request: dict[str, Any]
    requested_at: datetime
    invocations: dict[str, SimInvocation] = field(default_factory=dict)

    @property
    def document(self) -> str:
        return str(self.request["DocumentName"])


class Fleet:
    """Instances across accounts and regions, and the SSM service that patches them."""

    def __init__(self, clock: VirtualClock, *, name_prefix: str = conventions.DEFAULT_NAME_PREFIX) -> None:
        self.clock = clock
        self.snapshot_document = conventions.snapshot_document_name(name_prefix)
        self.patch_document = conventions.patch_document_name(name_prefix)
        # The spoke's own baseline override files: the only values (besides none) of the wrapper's BaselineOverride.
        self.baselines: set[str] = set()
        self.instances: dict[tuple[str, str], list[SimInstance]] = {}
        self.commands: dict[str, SimCommand] = {}
        self.calls: list[tuple[str, str, str]] = []  # (operation, account, region)
        self._faults: list[tuple[str, str | None, str, int]] = []  # (operation, account, code, remaining)
        self._lock = threading.RLock()
        self._setup_clients: dict[tuple[str, str, str], Any] = {}

    # Setting up the fleet -------------------------------------------------------------------------------

    def add(
        self,
        account_id: str,
        region: str,
        count: int = 1,
        *,
        tags: dict[str, str] | None = None,
        platform: str = "Linux",
        ping: str | None = "Online",
        patch: Behaviour = Behaviour(),
        snapshot: Behaviour | None = None,
        stopped: bool = False,
    ) -> list[str]:
        """Launch ``count`` instances (real moto EC2 instances in that account) and register their agents."""
        tags = {"PatchGroup": "web", **(tags or {})}
        ec2 = self._setup_client("ec2", account_id, region)
        launched = ec2.run_instances(
            ImageId=AMI,
            MinCount=count,
            MaxCount=count,
            InstanceType="t3.micro",
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
            ],
        )["Instances"]
        ids = [instance["InstanceId"] for instance in launched]
        if stopped:
            ec2.stop_instances(InstanceIds=ids)
        with self._lock:
            for instance_id in ids:
                self.instances.setdefault((account_id, region), []).append(
                    SimInstance(
                        account_id,
                        region,
                        instance_id,
                        platform,
                        "ConnectionLost" if stopped and ping else ping,
                        tags,
                        patch,
                        snapshot or Behaviour(seconds=15, stdout=f"== host\n{instance_id}\n"),
                    )
                )
        return ids

    def throttle(
        self, operation: str, times: int, *, account_id: str | None = None, code: str = "ThrottlingException"
    ) -> None:
        """The next ``times`` calls of ``operation`` (in ``account_id``, or anywhere) fail with ``code``."""
        with self._lock:
            self._faults.append((operation, account_id, code, times))

    def _setup_client(self, service: str, account_id: str, region: str) -> Any:
        key = (service, account_id, region)
        if key not in self._setup_clients:
            self._setup_clients[key] = _client(service, account_id, region)
        return self._setup_clients[key]

    # What happened --------------------------------------------------------------------------------------

    def sent(self, *, document: str | None = None) -> list[SimCommand]:
        """Every command sent, in order, optionally only those of ``document``."""
        with self._lock:
            return [c for c in self.commands.values() if document is None or c.document == document]

    def count(self, operation: str) -> int:
        with self._lock:
            return sum(1 for op, _, _ in self.calls if op == operation)

    # The simulated SSM operations -----------------------------------------------------------------------

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Answer the SSM operations the handlers use from this fleet."""
        operations: dict[str, Callable[[Fleet, SsmRequest], dict[str, Any]]] = {
            "send_command": Fleet._send_command,
            "list_commands": Fleet._list_commands,
            "list_command_invocations": Fleet._list_command_invocations,
            "get_command_invocation": Fleet._get_command_invocation,
            "cancel_command": Fleet._cancel_command,
            "describe_instance_information": Fleet._describe_instance_information,
        }

        def entered(name: str, body: Callable[[Fleet, SsmRequest], dict[str, Any]]) -> SsmOperation:
            def operation(request: SsmRequest) -> dict[str, Any]:
                self._enter(name, request.current_account, request.region)
                return body(self, request)

            return operation

        serve_ssm(monkeypatch, {name: entered(name, body) for name, body in operations.items()})

    def _enter(self, operation: str, account_id: str, region: str) -> None:
        with self._lock:
            self.calls.append((operation, account_id, region))
            for index, (op, account, code, remaining) in enumerate(self._faults):
                if op == operation and account in (None, account_id) and remaining > 0:
                    self._faults[index] = (op, account, code, remaining - 1)
                    raise ssm_error(code, f"Rate exceeded ({operation}, simulated)")

    def _send_command(self, response: SsmRequest) -> dict[str, Any]:
        request = {key: response._get_param(key) for key in _SEND_COMMAND_KEYS if response._get_param(key) is not None}
        document = request.get("DocumentName")
        if document == conventions.AWS_PATCH_DOCUMENT_NAME:
            raise ssm_error(
                "AccessDeniedException",
                f"User is not authorized to perform: ssm:SendCommand on document/{document} (the spoke role)",
            )
        if document not in (self.patch_document, self.snapshot_document):
            raise ssm_error("InvalidDocument", f"Document {document} does not exist in this account")
        if document == self.patch_document:
            _check_patch_parameters(request.get("Parameters", {}), self.baselines)
        elif request.get("Parameters"):
            raise ssm_error("InvalidParameters", f"{document} declares no parameters")
        if ("InstanceIds" in request) == ("Targets" in request):
            raise ssm_error("InvalidParameters", "give either InstanceIds or Targets")
        if len(request.get("InstanceIds", [])) > 50:
            raise ssm_error("ValidationException", "InstanceIds: at most 50")
        with self._lock:
            here = self.instances.get((response.current_account, response.region), [])
            known = {instance.instance_id for instance in here}
            unknown = sorted(set(request.get("InstanceIds", [])) - known)
            if unknown:
                raise ssm_error("InvalidInstanceId", f"Instances {unknown} not in a valid state for account")
            targeted = [
                instance
                for instance in here
                if instance.ping is not None
                and (
                    instance.instance_id in request["InstanceIds"]
                    if "InstanceIds" in request
                    else _matches(instance, request["Targets"])
                )
            ]
            command = SimCommand(
                str(uuid.uuid4()), response.current_account, response.region, request, self.clock.now()
            )
            for instance in targeted:
                patching = document == self.patch_document
                behaviour = instance.patch if patching else instance.snapshot
                if instance.ping != "Online":
                    behaviour = Behaviour(status="DeliveryTimedOut", seconds=int(request.get("TimeoutSeconds", 3600)))
                plugin = (PATCH_PLUGINS if patching else SNAPSHOT_PLUGINS)[instance.platform]
                command.invocations[instance.instance_id] = SimInvocation(
                    instance, behaviour, plugin, command.requested_at
                )
            self.commands[command.command_id] = command
        self._write_output(command)
        return {"Command": self._command_view(command)}

    def _list_commands(self, response: SsmRequest) -> dict[str, Any]:
        command_id = response._get_param("CommandId")
        filters = {f["key"]: f["value"] for f in response._get_param("Filters") or []}
        with self._lock:
            found = [
                command
                for command in self.commands.values()
                if (command.account_id, command.region) == (response.current_account, response.region)
                and (command_id is None or command.command_id == command_id)
                and ("InvokedAfter" not in filters or command.requested_at >= _parse(filters["InvokedAfter"]))
            ]
            if command_id is not None and not found:
                raise ssm_error("InvalidCommandId", f"{command_id} is not a valid command id")
            return {"Commands": [self._command_view(command) for command in found]}

    def _list_command_invocations(self, response: SsmRequest) -> dict[str, Any]:
        command = self._command(response)
        details = bool(response._get_param("Details"))
        start = int(response._get_param("NextToken") or 0)
        size = int(response._get_param("MaxResults") or INVOCATION_PAGE)
        invocations = list(command.invocations.values())[start : start + size]
        page: dict[str, Any] = {"CommandInvocations": [self._invocation_view(command, i, details) for i in invocations]}
        if start + size < len(command.invocations):
            page["NextToken"] = str(start + size)
        return page

    def _get_command_invocation(self, response: SsmRequest) -> dict[str, Any]:
        command = self._command(response)
        instance_id = response._get_param("InstanceId")
        invocation = command.invocations.get(instance_id)
        if invocation is None:
            raise ssm_error("InvocationDoesNotExist", f"no invocation for {instance_id}")
        status = self._status(invocation)
        plugin = response._get_param("PluginName")
        if plugin and plugin != invocation.plugin:
            raise ssm_error("InvalidPluginName", f"{plugin} did not run on {instance_id}")
        ended = status != IN_PROGRESS
        return {
            "CommandId": command.command_id,
            "InstanceId": instance_id,
            "PluginName": invocation.plugin,
            "Status": status,
            "StatusDetails": self._details(invocation),
            "ResponseCode": invocation.behaviour.response_code if ended else -1,
            "StandardOutputContent": invocation.behaviour.stdout[:OUTPUT_LIMIT] if ended else "",
            "StandardErrorContent": invocation.behaviour.stderr[:OUTPUT_LIMIT] if ended else "",
            "ExecutionStartDateTime": _iso(command.requested_at),
            "ExecutionEndDateTime": _iso(self._ended_at(command, invocation)) if ended else "",
        }

    def _cancel_command(self, response: SsmRequest) -> dict[str, Any]:
        command = self._command(response)
        now = self.clock.now()
        with self._lock:
            for invocation in command.invocations.values():
                if self._status(invocation) == IN_PROGRESS:
                    invocation.cancelled_at = now
        return {}

    def _describe_instance_information(self, response: SsmRequest) -> dict[str, Any]:
        wanted: set[str] | None = None
        for entry in response._get_param("Filters") or []:
            if entry["Key"] == "InstanceIds":
                wanted = set(entry["Values"])
        with self._lock:
            managed = [
                instance
                for instance in self.instances.get((response.current_account, response.region), [])
                if instance.ping is not None and (wanted is None or instance.instance_id in wanted)
            ]
        start = int(response._get_param("NextToken") or 0)
        size = int(response._get_param("MaxResults") or INSTANCE_INFORMATION_PAGE)
        page: dict[str, Any] = {
            "InstanceInformationList": [
                {
                    "InstanceId": i.instance_id,
                    "PingStatus": i.ping,
                    "PlatformType": i.platform,
                    "PlatformName": "Amazon Linux" if i.platform == "Linux" else "Microsoft Windows Server 2022",
                    "ResourceType": "EC2Instance",
                }
                for i in managed[start : start + size]
            ]
        }
        if start + size < len(managed):
            page["NextToken"] = str(start + size)
        return page

    # Helpers ----------------------------------------------------------------------------------------------

    def _command(self, response: SsmRequest) -> SimCommand:
        command_id = response._get_param("CommandId")
        with self._lock:
            command = self.commands.get(command_id)
        if command is None or (command.account_id, command.region) != (response.current_account, response.region):
            raise ssm_error("InvalidCommandId", f"{command_id} is not a valid command id")
        return command

    def _status(self, invocation: SimInvocation) -> str:
        """The invocation's Status (as SSM reports it); ``_details`` gives its StatusDetails."""
        details = self._details(invocation)
        return DETAILED.get(details, details)

    def _details(self, invocation: SimInvocation) -> str:
        ends = invocation.requested_at + timedelta(seconds=invocation.behaviour.seconds)
        now = self.clock.now()
        if invocation.cancelled_at is not None:
            return "Cancelled"
        if invocation.behaviour.status == NEVER or now < ends:
            return IN_PROGRESS
        return invocation.behaviour.status

    def _ended_at(self, command: SimCommand, invocation: SimInvocation) -> datetime:
        return invocation.cancelled_at or command.requested_at + timedelta(seconds=invocation.behaviour.seconds)

    def _command_view(self, command: SimCommand) -> dict[str, Any]:
        statuses = [self._status(invocation) for invocation in command.invocations.values()]
        if IN_PROGRESS in statuses:
            status = IN_PROGRESS
        elif "Cancelled" in statuses:
            status = "Cancelled"
        elif "Failed" in statuses:
            status = "Failed"
        elif "TimedOut" in statuses:
            status = "TimedOut"
        else:
            status = "Success"
        return {
            "CommandId": command.command_id,
            "DocumentName": command.document,
            "Comment": command.request.get("Comment", ""),
            "Status": status,
            "RequestedDateTime": command.requested_at,
            "TargetCount": len(statuses),
            "CompletedCount": sum(1 for s in statuses if s != IN_PROGRESS),
            "ErrorCount": sum(1 for s in statuses if s in FAILED_STATUSES),
            "MaxConcurrency": command.request.get("MaxConcurrency", ""),
            "MaxErrors": command.request.get("MaxErrors", ""),
            "Targets": command.request.get("Targets", []),
        }

    def _invocation_view(self, command: SimCommand, invocation: SimInvocation, details: bool) -> dict[str, Any]:
        status = self._status(invocation)
        view: dict[str, Any] = {
            "CommandId": command.command_id,
            "InstanceId": invocation.instance.instance_id,
            "DocumentName": command.document,
            "Status": status,
            "StatusDetails": self._details(invocation),
            "RequestedDateTime": command.requested_at,
        }
        if details:
            other = "LinuxSnapshot" if invocation.plugin == "WindowsSnapshot" else "WindowsSnapshot"
            plugins = [
                {
                    "Name": invocation.plugin,
                    "Status": status,
                    "ResponseCode": invocation.behaviour.response_code if status != IN_PROGRESS else -1,
                    "Output": (invocation.behaviour.stdout + invocation.behaviour.stderr)[:2500],
                }
            ]
            if invocation.plugin in SNAPSHOT_PLUGINS.values():
                plugins.append({"Name": other, "Status": "Skipped", "ResponseCode": 0, "Output": ""})
            view["CommandPlugins"] = plugins
        return view

    def _write_output(self, command: SimCommand) -> None:
        """Instances write Run Command output to S3 themselves when the command asks for it."""
        bucket = command.request.get("OutputS3BucketName")
        if not bucket:
            return
        s3 = boto3.client("s3", region_name="eu-west-1")
        for instance_id, invocation in command.invocations.items():
            prefix = command.request.get("OutputS3KeyPrefix", "")
            key = f"{prefix}/{command.command_id}/{instance_id}/{invocation.plugin}/stdout"
            s3.put_object(Bucket=bucket, Key=key, Body=invocation.behaviour.stdout.encode())


_SEND_COMMAND_KEYS = (
    "DocumentName",
    "Parameters",
    "Targets",
    "InstanceIds",
    "MaxConcurrency",
    "MaxErrors",
    "TimeoutSeconds",
    "Comment",
    "OutputS3BucketName",
    "OutputS3KeyPrefix",
)
_session_ids = itertools.count()


def _client(service: str, account_id: str, region: str) -> Any:
    """A client acting in ``account_id`` (moto keys its backends by the assumed role's account)."""
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/fleet-setup", RoleSessionName=f"setup-{next(_session_ids)}"
    )["Credentials"]
    return boto3.client(  # the default session: its loaded service models are reused
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _matches(instance: SimInstance, targets: list[dict[str, Any]]) -> bool:
    if not targets:
        return False
    for target in targets:
        key = str(target["Key"])
        if not key.startswith("tag:"):
            raise ssm_error("InvalidTarget", f"unsupported target key {key}")
        if instance.tags.get(key.removeprefix("tag:")) not in target["Values"]:
            return False
    return True


def _check_patch_parameters(parameters: dict[str, list[str]], baselines: set[str]) -> None:
    """The wrapper's parameters as SSM checks them: declared ones only, each one value within what it allows."""
    declared = {
        conventions.PATCH_OPERATION_PARAMETER: lambda value: value in conventions.PATCH_OPERATIONS,
        conventions.PATCH_REBOOT_OPTION_PARAMETER: lambda value: value in conventions.PATCH_REBOOT_OPTIONS,
        conventions.PATCH_SNAPSHOT_ID_PARAMETER: lambda value: (
            re.fullmatch(conventions.PATCH_SNAPSHOT_ID_PATTERN, value) is not None
        ),
        conventions.PATCH_BASELINE_OVERRIDE_PARAMETER: lambda value: value == "" or value in baselines,
    }
    for name, values in parameters.items():
        if name not in declared:
            raise ssm_error("InvalidParameters", f"Parameter {name!r} is not declared by the document")
        if len(values) != 1 or not declared[name](values[0]):
            raise ssm_error("InvalidParameters", f"{name} {values!r} is not valid")
    required_parameters = (
        conventions.PATCH_OPERATION_PARAMETER,
        conventions.PATCH_REBOOT_OPTION_PARAMETER,
        conventions.PATCH_SNAPSHOT_ID_PARAMETER,
    )
    for required in required_parameters:
        if required not in parameters:
            raise ssm_error("InvalidParameters", f"Parameter {required!r} is required")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat()
