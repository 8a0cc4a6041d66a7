"""Every reach into moto's internals, in one place: where moto 5.2.5 is kinder or stranger than AWS, made like
AWS, and the hooks a rehearsal needs (virtual time, in-process Lambda invokes, trust checks, the SSM fleet).

Each shim says what AWS does and what moto does instead, and refuses to install on a moto version other than the
one it was written for: an upgrade re-checks every shim rather than silently misapplying one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import botocore.loaders
import botocore.session
import moto
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudformation import parsing
from moto.cloudformation.models import ChangeSet
from moto.cloudformation.parsing import ResourceMap
from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult, EmptyResult
from moto.secretsmanager.models import secretsmanager_backends
from moto.secretsmanager.utils import random_password
from moto.ssm.exceptions import SSMException
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSecondsPath
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.responses import StepFunctionResponse
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse

WRITTEN_FOR = "5.2.5"


class GeneratedSecret(CloudFormationModel):  # type: ignore[misc]  # moto has no type information
    """``AWS::SecretsManager::Secret`` with ``GenerateSecretString``: moto's CloudFormation has no model for it and
    drops every reference to it (the hub's ExternalId secret and its output)."""

    def __init__(self, arn: str) -> None:
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn  # Ref to a secret is its ARN

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
    ) -> GeneratedSecret:
        properties = cloudformation_json["Properties"]
        generate = properties.get("GenerateSecretString", {})
        value = random_password(
            password_length=int(generate.get("PasswordLength", 32)),
            exclude_characters=generate.get("ExcludeCharacters", ""),
            exclude_numbers=False,
            exclude_punctuation=str(generate.get("ExcludePunctuation", False)).lower() == "true",
            exclude_uppercase=False,
            exclude_lowercase=False,
            include_space=str(generate.get("IncludeSpace", False)).lower() == "true",
            require_each_included_type=True,
        )
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=properties.get("Name", resource_name),
            secret_string=properties.get("SecretString", value),
            secret_binary=None,
            description=properties.get("Description"),
            tags=[],
            kms_key_id=properties.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"] if isinstance(created, str) else created["ARN"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> Any:
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


def _added_in_dependency_order(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """moto adds a change set's resources in template order, ignoring ``DependsOn``; AWS honours it (the approval
    API's deployment must come after its methods)."""

    def build_resource_diff(self: ResourceMap, template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        diff = original(self, template, parameters)
        resources, ordered = template["Resources"], []

        def visit(name: str) -> None:
            if name in ordered or name not in diff["Add"]:
                return
            depends = resources[name].get("DependsOn", [])
            for dependency in [depends] if isinstance(depends, str) else depends:
                visit(dependency)
            ordered.append(name)

        for name in diff["Add"]:
            visit(name)
        return {**diff, "Add": ordered}

    return build_resource_diff


def _apply_with_outputs(original: Callable[[ChangeSet], None]) -> Callable[[ChangeSet], None]:
    """moto applies a change set's resources but never evaluates the stack's outputs again; AWS does (the deploy
    reads the hub's outputs after executing its change set)."""

    def apply(change_set: ChangeSet) -> None:
        original(change_set)
        change_set.stack.template_dict = change_set.template_dict
        change_set.stack.output_map = change_set.stack._create_output_map()

    return apply


def check_version() -> None:
    if moto.__version__ != WRITTEN_FOR:
        raise RuntimeError(
            f"rehearsal/moto_shims.py was written for moto {WRITTEN_FOR}, this is {moto.__version__}: check each "
            "shim against the new moto (some may be fixed there) and update WRITTEN_FOR"
        )


def install_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    """CloudFormation as deploys meet it: generated secrets exist, and change sets honour DependsOn."""
    check_version()
    monkeypatch.setattr(ResourceMap, "build_resource_diff", _added_in_dependency_order(ResourceMap.build_resource_diff))
    monkeypatch.setattr(ChangeSet, "apply", _apply_with_outputs(ChangeSet.apply))
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    monkeypatch.setattr(parsing, "get_model_list", lambda: [*CloudFormationModel.__subclasses__()])


# The rehearsal's hooks into moto: time, task failures, callback timeouts, trust, invokes, SSM. ------------------


def virtual_time(monkeypatch: pytest.MonkeyPatch, advance: Callable[[float], None]) -> None:
    """Wait states and Retry back-off advance ``advance`` (a virtual clock) instead of sleeping."""
    check_version()
    monkeypatch.setattr(WaitFunction, "_wait_interval", lambda _self, env, wait_seconds: advance(wait_seconds))
    monkeypatch.setattr(retrier_decl, "time", _Sleeper(advance))


def keep_task_failure_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto drops ``SendTaskFailure``'s ``cause``; AWS hands it to the task's Catch (the workflow reads it)."""
    check_version()

    def send_task_failure(response: StepFunctionResponse) -> EmptyResult:
        response.stepfunction_backend.send_task_failure(
            response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
        )
        return EmptyResult()

    monkeypatch.setattr(StepFunctionResponse, "send_task_failure", send_task_failure)


def replace_timeout_seconds_path(monkeypatch: pytest.MonkeyPatch, replace: Callable[[int], float]) -> None:
    """A task's ``TimeoutSecondsPath`` seconds go through ``replace`` (moto waits for callbacks in real time)."""
    check_version()
    original = TimeoutSecondsPath._eval_seconds
    monkeypatch.setattr(TimeoutSecondsPath, "_eval_seconds", lambda timeout, env: replace(original(timeout, env)))


def check_assume_role(monkeypatch: pytest.MonkeyPatch, check: Callable[[dict[str, str]], None]) -> None:
    """moto assumes any role for anyone; ``check`` sees each request (RoleArn, ExternalId, SourceIdentity) and
    refuses one by raising ``access_denied``, as a trust policy would."""
    check_version()
    original = TokenResponse.assume_role

    def assume_role(response: TokenResponse) -> Any:
        check({key: str(response._get_param(key)) for key in ("RoleArn", "ExternalId", "SourceIdentity")})
        return original(response)

    monkeypatch.setattr(TokenResponse, "assume_role", assume_role)


def access_denied(message: str) -> Exception:
    """The error STS answers a refused AssumeRole with (moto derives the service from the exception's module)."""
    return STSClientError("AccessDenied", message)


def route_lambda_invokes(monkeypatch: pytest.MonkeyPatch, route: Callable[[str, Any, dict[str, Any]], bytes]) -> None:
    """Every Lambda invoke (from the state machine or a client) goes to ``route(function, body, response_headers)``
    in this process; setting ``response_headers["x-amz-function-error"]`` reports a function error."""
    check_version()
    monkeypatch.setattr(
        LambdaSimpleBackend,
        "invoke",
        lambda _self, function_name, qualifier, body, headers, response_headers: route(
            function_name, body, response_headers
        ),
    )


def declare_executions(monkeypatch: pytest.MonkeyPatch, declared: Mapping[str, str]) -> None:
    """DescribeExecution answers the executions in ``declared`` (ARN -> status) from there, and the others from
    moto. moto knows only executions it runs, and cannot stop one waiting for a callback (``stop_execution``
    leaves it RUNNING until the wait ends, then reports how the wait ended); a handler test declares the status it
    needs instead."""
    check_version()
    original = StepFunctionResponse.describe_execution

    def describe_execution(response: StepFunctionResponse) -> Any:
        execution_arn = str(response._get_param("executionArn"))
        if execution_arn not in declared:
            return original(response)
        machine, _, name = execution_arn.replace(":execution:", ":stateMachine:", 1).rpartition(":")
        started = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
        described = {
            "executionArn": execution_arn,
            "stateMachineArn": machine,
            "name": name,
            "status": declared[execution_arn],
            "startDate": started,
            "input": "{}",
        }
        if declared[execution_arn] != "RUNNING":
            described["stopDate"] = started
        return ActionResult(described)

    monkeypatch.setattr(StepFunctionResponse, "describe_execution", describe_execution)


# What an SSM operation of a simulator receives: moto's response (_get_param, current_account, region).
SsmRequest = SimpleSystemManagerResponse
SsmOperation = Callable[[SsmRequest], dict[str, Any]]


def serve_ssm(monkeypatch: pytest.MonkeyPatch, operations: dict[str, SsmOperation]) -> None:
    """SSM operations answered by ``operations`` (moto lacks several and answers SendCommand wrongly); an operation
    reads its request with ``response._get_param`` and knows its ``response.current_account`` and ``region``."""
    check_version()
    for name, body in operations.items():
        monkeypatch.setattr(
            SimpleSystemManagerResponse, name, lambda response, body=body: ActionResult(body(response)), raising=False
        )


def ssm_error(code: str, message: str) -> Exception:
    """An SSM error as the API returns it (it must come from moto's SSM module to be serialised as SSM's)."""
    return SSMException(code, message)


class _Sleeper:
    """Stands in for the ``time`` module in moto's retrier."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        self._advance = advance

    def sleep(self, seconds: float) -> None:
        self._advance(seconds)


def share_service_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every botocore session of the process reads the service models once. A Lambda container keeps one session;
    a test suite starts hundreds of containers, and each new session would parse the same JSON models again."""
    shared = functools.cache(botocore.loaders.create_loader)
    monkeypatch.setattr(botocore.session, "create_loader", shared)


def record_child_histories(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[list[dict[str, Any]]]]:
    """The history of every Distributed Map child execution. moto records them in an event manager per map-run job
    and drops it (``list_executions(mapRunArn=...)`` raises); AWS lists child executions and their histories."""
    check_version()
    managers: dict[int, Any] = {}
    original = DistributedItemProcessorWorker._eval_job

    def recording(self: Any, env: Any, job: Any) -> None:
        managers[id(env.event_manager)] = env.event_manager
        original(self, env, job)

    monkeypatch.setattr(DistributedItemProcessorWorker, "_eval_job", recording)
    return lambda: [list(manager.get_event_history()) for manager in managers.values()]


def definition_for_moto(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition as moto's ASL parser takes it: ``ToleratedFailurePercentage`` as a float. AWS's ASL schema
    takes an integer (and refuses ``100.0``), which is what the generator emits."""
    check_version()

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: float(item) if key == "ToleratedFailurePercentage" and isinstance(item, int) else convert(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    converted: dict[str, Any] = convert(definition)
    return converted
