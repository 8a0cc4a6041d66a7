"""The entry point: each function reads its own environment class (from an environment a harness may give it),
refuses to start without a setting, gets the clients its environment allows, and reports errors by name."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers.contract import environment
from handlers.contract.environment import EvaluateWaveEnv, FunctionEnv
from handlers.contract.errors import InvalidEvent, TransientAwsError
from handlers.runtime.clients import FleetClients, HubClients
from handlers.runtime.entry import LambdaHandler, entry_point
from rehearsal.hub import FakeLambdaContext, Rehearsal
from rehearsal.template import HubFunction, hub_function, hub_functions

ROOT = Path(__file__).resolve().parents[3]
API_FUNCTIONS = {"ApprovalPage", "ApprovalDecision"}  # behind API Gateway: they answer with pages, never raise
INVOKED_FUNCTIONS = [spec.name for spec in hub_functions() if spec.name not in API_FUNCTIONS]
# CancelRun receives EventBridge's event: the run id is the execution's name. StartScheduledRun receives its
# schedule's input: the run id is derived from it.
FIRST_FIELD = {"CancelRun": "detail.name", "StartScheduledRun": "schedule"}


def lambda_handler(spec: HubFunction) -> LambdaHandler[Any, Any]:
    handler: LambdaHandler[Any, Any] = importlib.import_module(spec.handler_module).lambda_handler
    return handler


def complete_environment(env_type: type[FunctionEnv]) -> dict[str, str]:
    """Every variable ``env_type`` reads, with a value of its kind."""
    samples = {bool: "true", int: "1", str: "x"}
    return {
        field.metadata["variable"].name: samples[field.metadata["variable"].kind]
        for field in dataclasses.fields(env_type)
    }


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every function's container forgets its environment before and after the test."""
    for spec in hub_functions():
        lambda_handler(spec).container.reset()
    yield
    for spec in hub_functions():
        lambda_handler(spec).container.reset()


def test_each_function_reads_the_environment_class_named_for_it() -> None:
    for spec in hub_functions():
        env_type = lambda_handler(spec).env_type
        assert env_type is getattr(environment, f"{spec.name}Env"), spec.name
        assert lambda_handler(spec).container.env_type is env_type


SETTINGS = [
    pytest.param(spec, variable, id=f"{spec.name}-{variable.name}")
    for spec in hub_functions()
    for variable in getattr(environment, f"{spec.name}Env").settings()
]


@pytest.mark.parametrize(("spec", "variable"), SETTINGS)
def test_each_handler_refuses_to_start_with_a_missing_setting(
    spec: HubFunction, variable: environment.Variable, isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = lambda_handler(spec)
    incomplete = {k: v for k, v in complete_environment(handler.env_type).items() if k != variable.name}
    monkeypatch.setattr(handler.container, "environ", incomplete)

    message = rf"^environment variable {variable.name} is not set \({spec.name}Env\)$"
    with pytest.raises(RuntimeError, match=message):
        handler({}, FakeLambdaContext(spec.function_name))


def test_a_setting_of_the_wrong_kind_stops_the_function_too(isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = lambda_handler(hub_function("EvaluateWave"))
    wrong = complete_environment(EvaluateWaveEnv) | {"RECORD_RETENTION_DAYS": "a year"}
    monkeypatch.setattr(handler.container, "environ", wrong)

    with pytest.raises(ValueError, match="RECORD_RETENTION_DAYS must be a whole number"):
        handler({}, FakeLambdaContext("evaluate-wave"))


def test_a_harness_gives_a_function_its_own_environment_without_touching_os_environ(
    isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUN_TABLE_NAME", raising=False)
    container = lambda_handler(hub_function("EvaluateWave")).container
    own = complete_environment(EvaluateWaveEnv) | {"RUN_TABLE_NAME": "evaluate-wave-runs"}
    monkeypatch.setattr(container, "environ", own)

    env, clients = container.get()
    again, same_clients = container.get()
    monkeypatch.setattr(container, "environ", own | {"RUN_TABLE_NAME": "redeployed"})
    redeployed, new_clients = container.get()

    assert (env.table_name, redeployed.table_name) == ("evaluate-wave-runs", "redeployed")
    assert again == env
    assert same_clients is clients
    assert new_clients is not clients
    assert "RUN_TABLE_NAME" not in os.environ


def test_functions_with_spoke_access_get_spoke_clients_and_the_others_hub_clients_only(
    isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for spec in hub_functions():
        container = lambda_handler(spec).container
        monkeypatch.setattr(container, "environ", complete_environment(container.env_type))
        _, clients = container.get()
        assert isinstance(clients, HubClients), spec.name
        assert isinstance(clients, FleetClients) == ("EXTERNAL_ID_SECRET_ARN" in spec.variables), spec.name


def test_throttling_that_outlasted_the_sdk_retries_is_transient_and_other_errors_keep_their_name() -> None:
    raised: list[Exception] = []

    def handle(event: dict[str, Any], *, env: EvaluateWaveEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
        raise raised[-1]

    handler = entry_point(handle, EvaluateWaveEnv, environ=complete_environment(EvaluateWaveEnv))
    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "Query")
    raised.append(throttled)
    with pytest.raises(TransientAwsError, match="ThrottlingException"):
        handler({"runId": "r"}, FakeLambdaContext("evaluate-wave"))
    raised.append(InvalidEvent("event.wave: required"))
    with pytest.raises(InvalidEvent):
        handler({"runId": "r"}, FakeLambdaContext("evaluate-wave"))


def test_a_caller_that_needs_an_answer_gets_one_for_any_error() -> None:
    def handle(event: dict[str, Any], *, env: EvaluateWaveEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
        raise KeyError("boom")

    answered = entry_point(
        handle,
        EvaluateWaveEnv,
        answer_error=lambda error: {"statusCode": 500, "error": type(error).__name__},
        environ=complete_environment(EvaluateWaveEnv),
    )

    assert answered({}, FakeLambdaContext("evaluate-wave")) == {"statusCode": 500, "error": "KeyError"}


@pytest.mark.parametrize("function", INVOKED_FUNCTIONS)
def test_every_handler_refuses_an_empty_event_with_a_typed_error(hub: Rehearsal, function: str) -> None:
    field = re.escape(FIRST_FIELD.get(function, "runId"))
    with pytest.raises(InvalidEvent, match=rf"^event\.{field}: required$"):
        hub.invoke(function, {})


def test_the_handlers_import_no_type_stubs_at_run_time() -> None:
    # A fresh interpreter in which the stubs cannot be imported: the Lambda runtime has boto3, not its stubs.
    modules = ", ".join(spec.handler_module for spec in hub_functions())
    probe = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0].startswith(('mypy_boto3', 'botocore_stubs', 'boto3_stubs')):\n"
        "            raise ImportError(name + ' is a type stub')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        f"import {modules}\n"
        "print('imported')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "imported", result.stderr
