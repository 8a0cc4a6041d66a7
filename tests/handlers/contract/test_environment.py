"""Each function's environment is read once, by its own class: settings required, tuning knobs defaulted."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from handlers.contract import environment
from handlers.contract.environment import (
    FunctionEnv,
    Source,
    StoreSnapshotsEnv,
    ValidateRunEnv,
)
from rehearsal.template import HubFunction, hub_functions

VALIDATE_RUN = {
    "AWS_REGION": "eu-west-1",
    "RUN_TABLE_NAME": "runs",
    "RECORD_RETENTION_DAYS": "30",
    "ACCOUNT_CONCURRENCY": "10",
    "REGION_CONCURRENCY": "5",
    "APPROVAL_REQUIRED_WAVES": "after-first",
    "APPROVERS": "ops@example.com",
    "MINIMUM_APPROVERS": "1",
    "MAXIMUM_APPROVAL_MINUTES": "240",
    "TARGET_ACCOUNT_IDS": "",
}


def environment_classes() -> list[type[FunctionEnv]]:
    return [
        value
        for value in vars(environment).values()
        if isinstance(value, type) and issubclass(value, FunctionEnv) and value.__name__.endswith("Env")
    ]


def test_a_function_reads_its_settings_typed() -> None:
    env = ValidateRunEnv.from_environ(VALIDATE_RUN | {"UNRELATED": "x"})

    assert env == ValidateRunEnv(
        region="eu-west-1",
        table_name="runs",
        retention_days=30,
        account_concurrency=10,
        region_concurrency=5,
        approval_required_waves="after-first",
        approvers="ops@example.com",
        minimum_approvers=1,
        maximum_approval_minutes=240,
        target_account_ids="",
    )


def test_a_missing_setting_names_the_variable_and_the_function() -> None:
    incomplete = {name: value for name, value in VALIDATE_RUN.items() if name != "ACCOUNT_CONCURRENCY"}

    with pytest.raises(RuntimeError, match=r"ACCOUNT_CONCURRENCY is not set \(ValidateRunEnv\)"):
        ValidateRunEnv.from_environ(incomplete)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RECORD_RETENTION_DAYS", "thirty", "must be a whole number"),
        ("INSTANCE_OUTPUT", "yes", "must be true or false"),
    ],
)
def test_a_setting_of_the_wrong_type_is_refused(variable: str, value: str, message: str) -> None:
    kind = environment.RECORD_RETENTION_DAYS if variable == "RECORD_RETENTION_DAYS" else environment.INSTANCE_OUTPUT

    with pytest.raises(ValueError, match=message):
        kind.parse(value)


def test_a_tuning_knob_has_a_default_and_can_be_overridden() -> None:
    base = {
        "AWS_REGION": "eu-west-1",
        "RUN_TABLE_NAME": "runs",
        "NAME_PREFIX": "patch",
        "AWS_PARTITION": "aws",
        "EXTERNAL_ID_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
        "ARTIFACT_BUCKET": "bucket",
    }

    assert StoreSnapshotsEnv.from_environ(base).snapshot_copy_workers == 16
    assert StoreSnapshotsEnv.from_environ(base | {"SNAPSHOT_COPY_WORKERS": "1"}).snapshot_copy_workers == 1
    assert environment.SNAPSHOT_COPY_WORKERS not in StoreSnapshotsEnv.settings()


def test_settings_are_what_the_template_sets_never_the_runtimes_own() -> None:
    for env_class in environment_classes():
        settings = env_class.settings()
        assert environment.AWS_REGION not in settings, env_class.__name__
        assert environment.RUN_TABLE_NAME in settings, env_class.__name__
        assert list(settings) == sorted(settings, key=lambda variable: variable.name)


def test_every_field_reads_a_variable_of_its_own_type() -> None:
    for env_class in environment_classes():
        for field in dataclasses.fields(env_class):
            assert isinstance(field.metadata["source"], Source), (env_class.__name__, field.name)
        # Reading checks each field's declared type against its variable's (a mismatch raises TypeError).
        values = {
            field.metadata["variable"].name: _sample(field.metadata["variable"])
            for field in dataclasses.fields(env_class)
        }
        assert env_class.from_environ(values)


def _sample(variable: environment.Variable) -> str:
    return {bool: "true", int: "1", str: "x"}[variable.kind]


@pytest.mark.parametrize("function", hub_functions(), ids=lambda function: function.name)
def test_the_template_sets_exactly_the_settings_the_handler_reads(function: HubFunction) -> None:
    handler = importlib.import_module(function.handler_module).lambda_handler

    assert function.variables == tuple(variable.name for variable in handler.env_type.settings())
