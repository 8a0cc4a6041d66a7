"""Rehearse patch runs offline: the generated state machine, executed by moto, invoking the real handlers.

``rehearsal()`` deploys the hub's resources into moto (run table, artifact bucket, topic, ExternalId secret),
creates the state machine from the generated definition (substitutions bound to the functions' ARNs), and
routes every Lambda invoke, from the state machine or a test, to the handler module in this process. Waits
and retry back-offs advance a virtual clock instead of sleeping; SSM is the simulated ``Fleet``.

Approvals: the approval topic and the HMAC signing key exist in moto; the approval API is served by calling its
handlers with API Gateway proxy events (``rehearsal.approvals``). A wave's approval timeout (virtual minutes)
is recorded and replaced by ``approval_wait_seconds`` of real time, so a test can decide in time or let it lapse.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff
from moto import mock_aws
from moto.sns.models import sns_backends

from handlers.contract.conventions import DEFAULT_NAME_PREFIX
from handlers.records.repository import RunTable
from handlers.runtime import clients as aws
from handlers.runtime import entry as runtime
from rehearsal import moto_shims
from rehearsal.fleet import Fleet, VirtualClock
from rehearsal.template import HubFunction, generated_template, hub_function, hub_functions, resolve, resolve_definition

HUB_ACCOUNT = "123456789012"  # moto runs every state-machine call in its default account
HUB_REGION = "eu-west-1"
ARTIFACT_BUCKET = "patch-orchestrator-artifacts-test"
EXTERNAL_ID = "rehearsal-external-id-0123456789"
EXECUTING_BACKENDS = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def function_arn(function: HubFunction) -> str:
    return f"arn:aws:lambda:{HUB_REGION}:{HUB_ACCOUNT}:function:{function.function_name}"


@dataclass(frozen=True)
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = "rehearsal"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{HUB_REGION}:{HUB_ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Rehearsal:
    """A deployed hub in moto and the fleet it patches."""

    clock: VirtualClock
    fleet: Fleet
    # Creates the state machine from the generated definition (moto parses it for most of a second, so only the
    # tests that run it pay for it).
    create_state_machine: Callable[[], str]
    state_machine_name: str
    table_name: str
    topic_arn: str
    approval_topic_arn: str
    approval_key_arn: str
    invocations: Counter[str] = field(default_factory=Counter)
    denied_accounts: set[str] = field(default_factory=set)
    open_targets: set[tuple[str, str, str]] = field(default_factory=set)
    # (function, "hub"|"spoke", service, operation) of every AWS call a handler made.
    aws_calls: set[tuple[str, str, str, str]] = field(default_factory=set)
    # (function, partition-key prefix such as "RUN#", attributes read or () for all) of every run-table access.
    table_access: set[tuple[str, str, tuple[str, ...]]] = field(default_factory=set)
    _current: threading.local = field(default_factory=threading.local)
    max_open_targets: int = 0
    # Real seconds a callback task waits for an approval decision, and the timeouts (seconds) it asked for.
    approval_wait_seconds: float = 30.0
    approval_timeouts: list[int] = field(default_factory=list)
    assumed: list[dict[str, str]] = field(default_factory=list)
    # Executions a handler test declares instead of running the workflow: execution ARN -> status, what
    # DescribeExecution answers for them (``declare_execution``).
    declared_executions: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    monkeypatch: pytest.MonkeyPatch = field(default_factory=pytest.MonkeyPatch)
    # Each function's environment as its template gives it, resolved (what its container reads).
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _invoke_lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def state_machine_arn(self) -> str:
        return self.create_state_machine()

    def execution_arn(self, run_id: str) -> str:
        """The ARN of the run's execution of the hub's state machine (whether or not it has been created)."""
        return f"arn:aws:states:{HUB_REGION}:{HUB_ACCOUNT}:execution:{self.state_machine_name}:{run_id}"

    def declare_execution(self, run_id: str, status: str) -> str:
        """An execution of the hub's state machine named ``run_id`` whose status is ``status`` (RUNNING, ABORTED,
        ...), for handler tests that need one without running the workflow; its ARN."""
        execution_arn = self.execution_arn(run_id)
        self.declared_executions[execution_arn] = status
        return execution_arn

    def run(self, document: dict[str, Any], run_id: str, *, timeout_seconds: float = 120) -> dict[str, Any]:
        """Start an execution named ``run_id`` with ``document`` and wait for it to end."""
        return self.wait(self.start(document, run_id), timeout_seconds=timeout_seconds)

    def start(self, document: Any, run_id: str) -> str:
        client = boto3.client("stepfunctions", region_name=HUB_REGION)
        body = document if isinstance(document, str) else json.dumps(document)
        return str(
            client.start_execution(stateMachineArn=self.state_machine_arn, name=run_id, input=body)["executionArn"]
        )

    def wait(self, execution_arn: str, *, timeout_seconds: float = 120) -> dict[str, Any]:
        client = boto3.client("stepfunctions", region_name=HUB_REGION)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError(f"{execution_arn} still running after {timeout_seconds}s")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        client = boto3.client("stepfunctions", region_name=HUB_REGION)
        pages = client.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]

    def items(self, run_id: str, prefix: str = "") -> list[dict[str, Any]]:
        dynamodb = boto3.client("dynamodb", region_name=HUB_REGION)
        return list(RunTable(dynamodb, self.table_name).items(run_id, prefix))

    def item(self, run_id: str, sort_key: str) -> dict[str, Any] | None:
        found = [item for item in self.items(run_id, sort_key) if item["sk"] == sort_key]
        return found[0] if found else None

    def s3_keys(self, prefix: str) -> list[str]:
        s3 = boto3.client("s3", region_name=HUB_REGION)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=ARTIFACT_BUCKET, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def s3_text(self, key: str) -> str:
        s3 = boto3.client("s3", region_name=HUB_REGION)
        return str(s3.get_object(Bucket=ARTIFACT_BUCKET, Key=key)["Body"].read().decode())

    def notifications(self) -> list[tuple[str, str]]:
        """(subject, message) of everything published to the run notifications topic."""
        topic = sns_backends[HUB_ACCOUNT][HUB_REGION].topics[self.topic_arn]
        return [(str(subject), message) for _, message, subject, _, _ in topic.sent_notifications]

    def approval_requests(self) -> list[dict[str, Any]]:
        """Everything published to the approvals topic: subject, message and the ``approver`` attribute."""
        topic = sns_backends[HUB_ACCOUNT][HUB_REGION].topics[self.approval_topic_arn]
        return [
            {"subject": subject, "message": message, "approver": attributes["approver"]["Value"]}
            for _, message, subject, attributes, _ in topic.sent_notifications
        ]

    def subscribe_approver(self, address: str) -> str:
        """An approver's confirmed email subscription, filtered to their own links (as the runbook says)."""
        return subscribe_approver(self.approval_topic_arn, address)

    def wait_for_approval_requests(self, count: int, *, timeout_seconds: float = 30) -> list[dict[str, Any]]:
        """The first ``count`` approval messages, once the workflow has sent them."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            sent = self.approval_requests()
            if len(sent) >= count:
                return sent
            time.sleep(0.05)
        raise AssertionError(f"{count} approval request(s) expected, {len(self.approval_requests())} sent")

    def _approval_timeout(self, seconds: int) -> float:
        with self._lock:
            self.approval_timeouts.append(seconds)
        return self.approval_wait_seconds

    def invoke(self, spec_name: str, event: dict[str, Any]) -> dict[str, Any]:
        """Call a handler through its lambda_handler, as the state machine (or API Gateway) would."""
        function = next(function for function in hub_functions() if function.name == spec_name)
        module = importlib.import_module(function.handler_module)
        with self._invoke_lock:
            self._current.function = function.name
            try:
                return dict(module.lambda_handler(event, FakeLambdaContext(function.function_name)))
            finally:
                self._current.function = None

    def _check_assume_role(self, request: dict[str, str]) -> None:
        """The spoke role's trust policy: the right ExternalId, and a role that exists in that account."""
        role_arn = request["RoleArn"]
        if f":role/{DEFAULT_NAME_PREFIX}-spoke-" not in role_arn:
            return
        with self._lock:
            self.assumed.append(
                {"roleArn": role_arn, "externalId": request["ExternalId"], "sourceIdentity": request["SourceIdentity"]}
            )
        if role_arn.split(":")[4] in self.denied_accounts or request["ExternalId"] != EXTERNAL_ID:
            raise moto_shims.access_denied(f"User is not authorized to perform: sts:AssumeRole on {role_arn}")

    def _give_environment(self, function: str) -> None:
        handler = importlib.import_module(hub_function(function).handler_module).lambda_handler
        self.monkeypatch.setattr(handler.container, "environ", dict(self.environments[function]))
        handler.container.reset()

    def set_setting(self, variable: str, value: str) -> None:
        """Give every function that reads ``variable`` this value (as a stack update would)."""
        for function, environment in self.environments.items():
            if variable in environment:
                environment[variable] = value
                self._give_environment(function)

    def _track_open_targets(self, function: str, event: dict[str, Any]) -> None:
        """Targets between their Discover and their RecordTarget: how many the workflow works on at once."""
        target = (str(event.get("runId")), str(event.get("accountId")), str(event.get("region")))
        if function == "Discover":
            self.open_targets.add(target)
            self.max_open_targets = max(self.max_open_targets, len(self.open_targets))
        elif function == "RecordTarget":
            self.open_targets.discard(target)

    def _route(self, function: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        name = function.split(":")[6] if function.startswith("arn:") else function
        spec = next(function for function in hub_functions() if function.function_name == name)
        module = importlib.import_module(spec.handler_module)
        # One invocation at a time: in AWS each runs in its own process, here they share Powertools' module-level
        # Logger and Metrics (and their buffers). The state machine still runs its Map iterations concurrently.
        event = json.loads(body or "{}")
        with self._invoke_lock:
            self.invocations[spec.name] += 1
            self._track_open_targets(spec.name, event)
            self._current.function = spec.name
            try:
                result = module.lambda_handler(event, FakeLambdaContext(name))
            except Exception as error:  # the Lambda service reports any exception as a function error
                # A crash of the environment (timeout, exit) is reported under the service's name, not the code's.
                error_type = getattr(error, "lambda_error_type", type(error).__name__)
                self.errors.append((spec.name, f"{error_type}: {error}"))
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": error_type, "errorMessage": str(error)}).encode()
            finally:
                self._current.function = None
        return json.dumps(result).encode()

    def _record_call(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        function = getattr(self._current, "function", None)
        if function is None:  # a call of the test or of moto itself, not of a handler
            return
        credentials = client._request_signer._credentials
        side = "hub" if credentials.access_key == os.environ["AWS_ACCESS_KEY_ID"] else "spoke"
        service = client.meta.service_model.service_name
        self.aws_calls.add((function, side, service, operation))
        if service == "dynamodb":
            names = params.get("ExpressionAttributeNames", {})
            read = tuple(
                names.get(n.strip(), n.strip()) for n in params.get("ProjectionExpression", "").split(",") if n
            )
            for partition in _partition_keys(params):
                self.table_access.add((function, partition.split("#")[0] + "#", read))


# Physical names of what the rehearsal creates for the template's resources.
ARTIFACT_BUCKET_NAME = ARTIFACT_BUCKET
REST_API_ID = "approvals"
# moto's in-memory backends are not safe for concurrent writes from one handler's threads.
TUNING = {"SNAPSHOT_COPY_WORKERS": "1"}
# The hub's approval policy as rehearsed: approvals where the run document asks (a policy's own rules are
# rehearsed by changing it with ``set_setting``: see tests/workflow/test_approval_policy.py), by these approvers.
APPROVERS = ("ops@example.com", "lead@example.com", "night.shift@example.com")
POLICY_PARAMETERS = {
    "ApprovalRequiredWaves": "run-document",
    "Approvers": ",".join(APPROVERS),
    "ApprovalAdministratorArns": f"arn:aws:iam::{HUB_ACCOUNT}:role/approval-administrator",
}


@contextmanager
def rehearsal(monkeypatch: pytest.MonkeyPatch, *, account_concurrency: int = 10) -> Iterator[Rehearsal]:
    """A hub deployed in moto with an empty fleet; add instances with ``rehearsal.fleet.add``.

    Each function gets the environment the generated template gives it, resolved against what was created here
    (parameters at their defaults but for ``POLICY_PARAMETERS``, ``DefaultAccountConcurrency`` at
    ``account_concurrency``)."""
    template = generated_template("hub.json")
    parameters = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    parameters |= POLICY_PARAMETERS | {"DefaultAccountConcurrency": account_concurrency}
    resources = template["Resources"]

    def name_of(logical_id: str, attribute: str) -> str:
        return str(resolve(resources[logical_id]["Properties"][attribute], parameters))

    with mock_aws(config=EXECUTING_BACKENDS):  # type: ignore[arg-type]
        table = resources["PatchRunsTable"]["Properties"]
        table_name = name_of("PatchRunsTable", "TableName")
        boto3.client("dynamodb", region_name=HUB_REGION).create_table(
            TableName=table_name,
            BillingMode=table["BillingMode"],
            AttributeDefinitions=table["AttributeDefinitions"],
            KeySchema=table["KeySchema"],
        )
        boto3.client("s3", region_name=HUB_REGION).create_bucket(
            Bucket=ARTIFACT_BUCKET_NAME, CreateBucketConfiguration={"LocationConstraint": HUB_REGION}
        )
        sns = boto3.client("sns", region_name=HUB_REGION)
        topic_arn = sns.create_topic(Name=name_of("RunNotificationsTopic", "TopicName"))["TopicArn"]
        approval_topic_arn = sns.create_topic(Name=name_of("ApprovalRequestsTopic", "TopicName"))["TopicArn"]
        signing_key = resources["ApprovalSigningKey"]["Properties"]
        approval_key_arn = boto3.client("kms", region_name=HUB_REGION).create_key(
            KeySpec=signing_key["KeySpec"], KeyUsage=signing_key["KeyUsage"]
        )["KeyMetadata"]["Arn"]
        secret_arn = boto3.client("secretsmanager", region_name=HUB_REGION).create_secret(
            Name=name_of("SpokeExternalIdSecret", "Name"), SecretString=EXTERNAL_ID
        )["ARN"]
        machine_name = name_of("PatchRunStateMachine", "StateMachineName")
        state_machine_arn = f"arn:aws:states:{HUB_REGION}:{HUB_ACCOUNT}:stateMachine:{machine_name}"
        physical = {
            **parameters,
            "PatchRunStateMachine": state_machine_arn,
            "PatchRunsTable": table_name,
            "ArtifactBucket": ARTIFACT_BUCKET_NAME,
            "RunNotificationsTopic": topic_arn,
            "ApprovalRequestsTopic": approval_topic_arn,
            "SpokeExternalIdSecret": secret_arn,
            "ApprovalApi": REST_API_ID,
        }
        attributes = {("ApprovalSigningKey", "Arn"): approval_key_arn}
        conditions = {"SharesInstanceOutput": parameters["ShareInstanceOutput"] == "true"}
        environments = {
            function.name: _environment(resources[f"{function.name}Function"], physical, attributes, conditions)
            for function in hub_functions()
        }

        clock = VirtualClock()
        fleet = Fleet(clock)
        fleet.install(monkeypatch)
        substitutions = resources["PatchRunStateMachine"]["Properties"]["DefinitionSubstitutions"]
        bindings = {
            f"{function.name}FunctionArn": function_arn(function)
            for function in hub_functions()
            if f"{function.name}FunctionArn" in substitutions  # the API's functions are not the workflow's
        }
        definition = resolve_definition(template, "PatchRunStateMachine", bindings | {"RunTableName": table_name})

        def create_state_machine() -> str:
            return str(
                boto3.client("stepfunctions", region_name=HUB_REGION).create_state_machine(
                    name=name_of("PatchRunStateMachine", "StateMachineName"),
                    definition=json.dumps(moto_shims.definition_for_moto(definition)),
                    roleArn=f"arn:aws:iam::{HUB_ACCOUNT}:role/patch-run",
                    type="STANDARD",
                )["stateMachineArn"]
            )

        hub = Rehearsal(
            clock,
            fleet,
            create_state_machine,
            machine_name,
            table_name,
            topic_arn,
            approval_topic_arn,
            approval_key_arn,
            monkeypatch=monkeypatch,
            environments=environments,
        )
        for function in hub_functions():
            hub._give_environment(function.name)

        monkeypatch.setattr(runtime, "utcnow", clock.now)
        # The SDK's own retries are kept (3 attempts, as a throttled call would see) but do not really sleep.
        monkeypatch.setattr(aws, "RETRY_CONFIG", Config(retries={"mode": "standard", "max_attempts": 3}))
        monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0)
        moto_shims.virtual_time(monkeypatch, clock.advance)
        moto_shims.keep_task_failure_cause(monkeypatch)
        moto_shims.replace_timeout_seconds_path(monkeypatch, hub._approval_timeout)
        moto_shims.check_assume_role(monkeypatch, hub._check_assume_role)
        moto_shims.route_lambda_invokes(monkeypatch, hub._route)
        moto_shims.declare_executions(monkeypatch, hub.declared_executions)
        original_api_call = BaseClient._make_api_call

        def recording_api_call(client: Any, operation: str, params: Any) -> Any:
            hub._record_call(client, operation, params)
            return original_api_call(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", recording_api_call)
        yield hub


def _environment(
    function: dict[str, Any],
    physical: dict[str, Any],
    attributes: dict[tuple[str, str], Any],
    conditions: dict[str, bool],
) -> dict[str, str]:
    """A function's environment as its template sets it, plus what the Lambda runtime and the rehearsal add."""
    variables = function["Properties"]["Environment"]["Variables"]
    resolved = {
        name: str(resolve(value, physical, attributes=attributes, conditions=conditions))
        for name, value in variables.items()
    }
    return resolved | {"AWS_REGION": HUB_REGION} | TUNING


def _partition_keys(params: dict[str, Any]) -> list[str]:
    """The partition keys a DynamoDB request touches (what ``dynamodb:LeadingKeys`` sees)."""
    items = [params.get("Key"), params.get("Item")]
    for requests in params.get("RequestItems", {}).values():
        items += [
            request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
            for request in requests
        ]
    keys = [item["pk"]["S"] for item in items if item and "pk" in item]
    if params.get("KeyConditionExpression"):
        keys.append(params["ExpressionAttributeValues"][":pk"]["S"])
    return keys


def subscribe_approver(topic_arn: str, address: str, *, filter_policy: dict[str, Any] | None = None) -> str:
    """Subscribe ``address`` by email to the approvals topic with the filter policy the runbook prescribes."""
    policy = filter_policy if filter_policy is not None else {"approver": [address]}
    return str(
        boto3.client("sns", region_name=HUB_REGION).subscribe(
            TopicArn=topic_arn,
            Protocol="email",
            Endpoint=address,
            Attributes={"FilterPolicy": json.dumps(policy)},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    )
