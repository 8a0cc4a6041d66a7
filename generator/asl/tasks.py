"""Service-integration tasks that bring their own IAM grants, retries and substitutions.

A task names the resources it touches through ``DefinitionSubstitutions`` (``"${DiscoverFunctionArn}"``) so the ASL in
``output/`` stays readable, and carries the ``Grant`` the state machine role needs; the role is then built from
the graph (``StateMachineDefinition.grants``), never written by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from awacs import awslambda, dynamodb, states
from awacs.aws import Condition, ForAllValuesStringEquals, ForAllValuesStringLike, StringEqualsIfExists
from troposphere import Sub

from generator.asl.states import Catch, JsonValue, Retry, Task
from generator.iam import Grant, arn, table_key_grant
from handlers.contract.table import PARTITION_KEY, SORT_KEY, Update

__all__ = [
    "DYNAMODB_TRANSIENT_ERRORS",
    "LAMBDA_CRASH_ERRORS",
    "LAMBDA_TRANSIENT_ERRORS",
    "FunctionTarget",
    "TableTarget",
    "crash_retry",
    "distributed_map_grants",
    "dynamodb_update_item",
    "integration",
    "lambda_invoke",
    "lambda_invoke_wait_for_token",
    "transient_retry",
]

# Throttling and service faults of the DynamoDB integration. The workflow's updates SET the same values again, so
# a retry is safe even after an attempt that did land.
DYNAMODB_TRANSIENT_ERRORS = (
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
)
# Errors the Lambda service itself raises for an invoke: safe to retry, the function never ran or can rerun.
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


# A function that crashed or timed out mid-invocation (the environment died, not the code's logic). Every handler
# is idempotent (the command ledger, overwriting puts), so one more attempt is safe and usually enough.
LAMBDA_CRASH_ERRORS = ("Lambda.Unknown", "Runtime.ExitError", "Sandbox.Timedout")


def crash_retry() -> Retry:
    """Retry a crashed invocation once or twice: more would only hide a real bug."""
    return Retry(
        LAMBDA_CRASH_ERRORS,
        interval_seconds=5,
        max_attempts=2,
        backoff_rate=2.0,
        max_delay_seconds=30,
        jitter_strategy="FULL",
    )


def transient_retry(errors: tuple[str, ...]) -> Retry:
    """Exponential backoff with full jitter, capped, for errors that a later attempt may not see."""
    return Retry(
        errors,
        interval_seconds=2,
        max_attempts=6,
        backoff_rate=2.0,
        max_delay_seconds=60,
        jitter_strategy="FULL",
    )


def integration(service_path: str) -> Sub:
    """The partition-safe ``Resource`` of an optimised integration, e.g. ``integration("lambda:invoke")``."""
    return arn("states", service_path, region=False, account=False)


@dataclass(frozen=True)
class FunctionTarget:
    """A Lambda function as the workflow sees it: its short name (``ValidateRun``), ARN, and the task timeout
    that outlasts the function's own timeout (so a slow invoke fails as Lambda's timeout, not the task's)."""

    name: str
    arn: Any
    task_timeout_seconds: int | None = None

    @property
    def substitution_key(self) -> str:
        return f"{self.name}FunctionArn"

    def grant(self) -> Grant:
        return Grant(
            sid=f"Invoke{self.name}Function",
            actions=(awslambda.InvokeFunction,),
            # Qualified ARNs (":*") too: the integration may invoke a version or alias.
            resources=(self.arn, Sub("${Arn}:*", Arn=self.arn)),
        )


@dataclass(frozen=True)
class TableTarget:
    """A DynamoDB table as the workflow sees it: its short name (``RunTable``), table name and ARN."""

    name: str
    table_name: Any
    arn: Any
    key_arn: Any
    # Partition-key patterns the workflow may touch (``dynamodb:LeadingKeys``); empty: the whole table.
    partitions: tuple[str, ...] = ()

    @property
    def substitution_key(self) -> str:
        return f"{self.name}Name"

    def update_grant(self) -> Grant:
        condition = Condition(ForAllValuesStringLike("dynamodb:LeadingKeys", list(self.partitions)))
        return Grant(
            f"UpdateItem{self.name}",
            (dynamodb.UpdateItem,),
            (self.arn,),
            condition if self.partitions else None,
        )


def lambda_invoke(
    name: str,
    function: FunctionTarget,
    *,
    payload: Mapping[str, JsonValue] | None = None,
    result_selector: Mapping[str, JsonValue] | None = None,
    result_path: str | None = "$",
    timeout_seconds: int | None = None,
    retry: tuple[Retry, ...] = (),
    catch: tuple[Catch, ...] = (),
    comment: str | None = None,
) -> Task:
    """Invoke ``function`` synchronously; transient Lambda errors are retried after ``retry``'s own rules."""
    return Task(
        name,
        integration("lambda:invoke"),
        parameters={
            "FunctionName": f"${{{function.substitution_key}}}",
            "Payload": payload or {"Input.$": "$"},
        },
        result_selector=result_selector if result_selector is not None else {"Payload.$": "$.Payload"},
        result_path=result_path,
        timeout_seconds=timeout_seconds if timeout_seconds is not None else function.task_timeout_seconds,
        retry=(*retry, transient_retry(LAMBDA_TRANSIENT_ERRORS), crash_retry()),
        catch=catch,
        comment=comment,
        grants=(function.grant(),),
        substitutions={function.substitution_key: function.arn},
    )


def lambda_invoke_wait_for_token(
    name: str,
    function: FunctionTarget,
    *,
    payload: Mapping[str, JsonValue],
    timeout_seconds: int | None = None,
    timeout_seconds_path: str | None = None,
    result_path: str | None = "$",
    retry: tuple[Retry, ...] = (),
    catch: tuple[Catch, ...] = (),
    comment: str | None = None,
) -> Task:
    """Invoke ``function`` with the task token (``taskToken``) and wait for the callback, for at most
    ``timeout_seconds`` or the number of seconds at ``timeout_seconds_path``: a callback task must time out.

    Retries re-invoke with the same token, so the function must be idempotent per token."""
    if (timeout_seconds is None) == (timeout_seconds_path is None):
        raise ValueError(f"{name}: a callback task needs exactly one of timeout_seconds, timeout_seconds_path")
    return Task(
        name,
        integration("lambda:invoke.waitForTaskToken"),
        parameters={
            "FunctionName": f"${{{function.substitution_key}}}",
            "Payload": {**payload, "taskToken.$": "$$.Task.Token"},
        },
        result_path=result_path,
        timeout_seconds=timeout_seconds,
        timeout_seconds_path=timeout_seconds_path,
        retry=(*retry, transient_retry(LAMBDA_TRANSIENT_ERRORS), crash_retry()),
        catch=catch,
        comment=comment,
        grants=(function.grant(),),
        substitutions={function.substitution_key: function.arn},
    )


def distributed_map_grants(state_machine_name: Sub) -> tuple[Grant, ...]:
    """What a DISTRIBUTED Map needs: start child executions of its own state machine and watch them.

    ``state_machine_name`` is the machine's fixed name (its ARN cannot be referenced from its own role).
    """
    machine = arn("states", "stateMachine:${Name}", Name=state_machine_name)
    # Its own executions (``execution:<name>:<run>``) and their children (``execution:<name>/<map run>:<id>``), as
    # AWS's "IAM policies for using Distributed Map states" lists them; moto checks none of it.
    own = arn("states", "execution:${Name}:*", Name=state_machine_name)
    children = arn("states", "execution:${Name}/*", Name=state_machine_name)
    return (
        Grant("StartChildExecutions", (states.StartExecution,), (machine,)),
        Grant("WatchChildExecutions", (states.DescribeExecution, states.StopExecution), (own, children)),
        # A redriven run redrives the map run's child executions.
        Grant(
            "RedriveChildExecutions",
            (states.RedriveExecution,),
            (arn("states", "execution:${Name}/*:*", Name=state_machine_name),),
        ),
    )


def dynamodb_update_item(
    name: str,
    table: TableTarget,
    *,
    key: Mapping[str, JsonValue],
    update: Update,
    values: Mapping[str, JsonValue],
    result_path: str | None = None,
    catch: tuple[Catch, ...] = (),
    comment: str | None = None,
) -> Task:
    """Make the named ``update`` to one item of ``table`` directly from the state machine (no Lambda in between).

    ``values`` must bind exactly the update's placeholders: the build fails otherwise, not the execution."""
    update.check_bound(values)
    parameters: dict[str, JsonValue] = {
        "TableName": f"${{{table.substitution_key}}}",
        "Key": dict(key),
        "UpdateExpression": update.expression,
        "ExpressionAttributeValues": dict(values),
    }
    if update.names:
        parameters["ExpressionAttributeNames"] = dict(update.names)
    if update.condition is not None:
        parameters["ConditionExpression"] = update.condition
    return Task(
        name,
        integration("dynamodb:updateItem"),
        parameters=parameters,
        result_path=result_path,
        retry=(transient_retry(DYNAMODB_TRANSIENT_ERRORS),),
        catch=catch,
        comment=comment,
        grants=(table.update_grant(), table_key_grant(table.key_arn)),
        substitutions={table.substitution_key: table.table_name},
    )


def dynamodb_get_item(
    name: str,
    table: TableTarget,
    *,
    key: Mapping[str, JsonValue],
    attributes: tuple[str, ...],
    grant: str,
    partitions: tuple[str, ...],
    result_path: str | None,
    catch: tuple[Catch, ...] = (),
    comment: str | None = None,
) -> Task:
    """Read ``attributes`` of one item of ``table``, consistently, from the state machine itself.

    The role may read only those attributes of items in ``partitions`` (``dynamodb:Attributes``,
    ``dynamodb:LeadingKeys``), under the Sid ``grant``: a workflow that checks a record need not see the rest."""
    names = {f"#a{index}": attribute for index, attribute in enumerate(attributes)}
    conditions: list[Any] = [
        ForAllValuesStringLike("dynamodb:LeadingKeys", list(partitions)),
        ForAllValuesStringEquals("dynamodb:Attributes", sorted({*attributes, PARTITION_KEY, SORT_KEY})),
        StringEqualsIfExists("dynamodb:Select", "SPECIFIC_ATTRIBUTES"),
    ]
    return Task(
        name,
        integration("dynamodb:getItem"),
        parameters={
            "TableName": f"${{{table.substitution_key}}}",
            "Key": dict(key),
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
            "ConsistentRead": True,
        },
        result_path=result_path,
        retry=(transient_retry(DYNAMODB_TRANSIENT_ERRORS),),
        catch=catch,
        comment=comment,
        grants=(
            Grant(grant, (dynamodb.GetItem,), (table.arn,), Condition(conditions)),
            table_key_grant(table.key_arn),
        ),
        substitutions={table.substitution_key: table.table_name},
    )
