"""``python -m generator deploy ENV``: from this repository to a running hub and its spokes, in one command.

1. Check the environment's files (as ``validate`` does) and that ``output/`` is what the code generates.
2. Check the credentials are for the environment's hub account, and that the code bucket is there, in its region.
3. Upload the handler package under its content-addressed key (skipped when present) and both templates under
   keys named by their digest: the hub template is over CloudFormation's 51,200-byte inline limit, so stacks are
   created from S3.
4. Create or update the hub stack through a change set: print the changes, execute, wait, print the outputs.
   A change set without changes is success. With ``hub.cloudFormationRoleArn`` (the deploy-role stack's
   execution role) CloudFormation acts as that role, so the deployer needs no rights on the hub's resources.
5. Create or update the spoke StackSet (service-managed, automatic deployment to new accounts of its OUs) with
   the hub's ExternalId read from the hub's secret (never printed), and add stack instances for the OUs and
   regions the environment names, with its failure-tolerance and concurrency preferences.

Every failure is one line (``DeployError``): no credentials, the wrong account, no code bucket, a stack left in
ROLLBACK_COMPLETE, a StackSet operation already running, a stack or StackSet operation that failed (with the
first reasons CloudFormation gives).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, WaiterError

from generator.environments import Environment, HubPlacement, SpokePlacement
from generator.package import Package

# CloudFormation takes a template body of at most 51,200 bytes inline, and 1 MB from S3.
INLINE_TEMPLATE_LIMIT = 51_200
S3_TEMPLATE_LIMIT = 1_000_000
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("The submitted information didn't contain changes", "No updates are to be performed")
# A stack in one of these states is being changed by someone else (or is stuck); deploying now would fail.
BUSY_SUFFIXES = ("_IN_PROGRESS",)
EXTERNAL_ID_PARAMETER = "ExternalId"
EXTERNAL_ID_OUTPUT = "ExternalIdSecretArn"
OPERATION_DONE = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
FAILURES_SHOWN = 3

Echo = Callable[[str], None]


class DeployError(Exception):
    """A deploy that cannot go on; the message is one line saying why and, where there is one, what to do."""


@dataclass(frozen=True)
class Templates:
    hub: str
    spoke: str


@dataclass
class Deployer:
    """One deploy of one environment. ``session`` is boto3's (a test passes one bound to moto)."""

    environment: Environment
    templates: Templates
    package: Package
    echo: Echo
    session: Any = None
    poll_seconds: float = 10.0
    operation_timeout_seconds: float = 4 * 3600.0
    _clients: dict[str, Any] = field(default_factory=dict)

    def deploy(self, *, hub: bool = True, spokes: bool = True) -> dict[str, str]:
        """Deploy what is asked; return the hub stack's outputs."""
        placement = self.environment.hub_placement
        try:
            self._check_account(placement)
            bucket = self.environment.hub.parameters["CodeBucket"]
            self._check_bucket(bucket, placement.region)
            code = self._upload(bucket, self.package.key, self.package.content, "application/zip")
            hub_url = self._upload_template(bucket, "hub.json", self.templates.hub)
            outputs = self._deploy_hub(hub_url, code) if hub else self._outputs(placement.stack_name)
            if spokes:
                spoke_url = self._upload_template(bucket, "spoke.json", self.templates.spoke)
                self._deploy_spokes(spoke_url, self._external_id(outputs))
            return outputs
        except NoCredentialsError:
            raise DeployError(
                "no AWS credentials: configure a profile (AWS_PROFILE), environment variables, or OIDC in CI"
            ) from None
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise DeployError(f"{error.operation_name}: {detail.get('Code')}: {detail.get('Message')}") from None
        except BotoCoreError as error:
            raise DeployError(str(error)) from None

    # Clients ----------------------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            session: Any = self.session or boto3.Session()
            self._clients[service] = session.client(service, region_name=self.environment.hub_placement.region)
        return self._clients[service]

    # Checks -----------------------------------------------------------------------------------------------

    def _check_account(self, placement: HubPlacement) -> None:
        identity = self._client("sts").get_caller_identity()
        if identity["Account"] != placement.account_id:
            raise DeployError(
                f"the credentials are for account {identity['Account']} ({identity['Arn']}); environment "
                f"{self.environment.name!r} deploys to {placement.account_id}"
            )

    def _check_bucket(self, bucket: str, region: str) -> None:
        s3 = self._client("s3")
        try:
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("NoSuchBucket", "404", "AccessDenied", "403"):
                raise DeployError(
                    f"code bucket {bucket} ({self.environment.hub.path}: CodeBucket) does not exist or is not "
                    "this account's: create it with the deploy-role stack (docs/deploying.md)"
                ) from None
            raise
        if location != region:
            raise DeployError(f"code bucket {bucket} is in {location}; the hub's functions in {region} need it there")

    # Uploads ----------------------------------------------------------------------------------------------

    def _upload(self, bucket: str, key: str, body: bytes, content_type: str) -> Uploaded:
        """Put ``body`` under ``key`` unless an object is already there (keys are content-addressed); an object
        already there must hold exactly ``body``, or someone replaced it and the deploy stops."""
        s3 = self._client("s3")
        try:
            found = s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
            self.echo(f"uploaded s3://{bucket}/{key}")
            return Uploaded(key, _version(put))
        held = found["Body"].read()
        if held != body:
            raise DeployError(
                f"s3://{bucket}/{key} holds other bytes than its name's sha256: the object was replaced; "
                "find out who wrote it (CloudTrail data events), delete it and deploy again"
            )
        self.echo(f"s3://{bucket}/{key} is already there")
        return Uploaded(key, _version(found))

    def _upload_template(self, bucket: str, name: str, text: str) -> str:
        body = text.encode("utf-8")
        if len(body) > S3_TEMPLATE_LIMIT:
            raise DeployError(f"{name} is {len(body)} bytes; CloudFormation takes at most {S3_TEMPLATE_LIMIT}")
        key = self._upload(bucket, f"templates/{hashlib.sha256(body).hexdigest()}/{name}", body, "application/json").key
        host = self._client("s3").meta.endpoint_url.removeprefix("https://")
        return f"https://{bucket}.{host}/{key}"

    # The hub stack ----------------------------------------------------------------------------------------

    def _deploy_hub(self, template_url: str, code: Uploaded) -> dict[str, str]:
        placement = self.environment.hub_placement
        cloudformation = self._client("cloudformation")
        status = self._stack_status(placement.stack_name)
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"stack {placement.stack_name} is ROLLBACK_COMPLETE: its first create failed and rolled back; "
                f"delete it (aws cloudformation delete-stack --stack-name {placement.stack_name} --region "
                f"{placement.region}) and deploy again"
            )
        if status is not None and status != "REVIEW_IN_PROGRESS" and status.endswith(BUSY_SUFFIXES):
            raise DeployError(f"stack {placement.stack_name} is {status}: wait for that operation to end")
        creating = status in (None, "REVIEW_IN_PROGRESS")
        # The package's S3 version, when the bucket keeps versions: the functions then run exactly the bytes
        # checked here, whatever is written under the key later.
        supplied = {"CodeKey": code.key} | ({"CodeObjectVersion": code.version} if code.version else {})
        parameters = [
            *(entry for entry in self.environment.hub.as_cloudformation() if entry["ParameterKey"] not in supplied),
            *({"ParameterKey": name, "ParameterValue": value} for name, value in supplied.items()),
        ]
        name = f"deploy-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        # With a role, CloudFormation creates the hub's resources as that role: the deployer only passes it.
        role = {"RoleARN": placement.cloudformation_role_arn} if placement.cloudformation_role_arn else {}
        cloudformation.create_change_set(
            **role,
            StackName=placement.stack_name,
            ChangeSetName=name,
            ChangeSetType="CREATE" if creating else "UPDATE",
            TemplateURL=template_url,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            Tags=_tags(placement.tags),
            Description=f"python -m generator deploy {self.environment.name}",
        )
        try:
            cloudformation.get_waiter("change_set_create_complete").wait(
                StackName=placement.stack_name, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
            )
        except WaiterError as error:
            reason = str((error.last_response or {}).get("StatusReason", ""))
            if any(marker in reason for marker in NO_CHANGES):
                cloudformation.delete_change_set(StackName=placement.stack_name, ChangeSetName=name)
                self.echo(f"hub stack {placement.stack_name}: no changes")
                return self._outputs(placement.stack_name)
            raise DeployError(f"hub change set {name} failed: {reason or error}") from None
        self._print_changes(name)
        cloudformation.execute_change_set(StackName=placement.stack_name, ChangeSetName=name)
        waiter = "stack_create_complete" if creating else "stack_update_complete"
        try:
            cloudformation.get_waiter(waiter).wait(
                StackName=placement.stack_name, WaiterConfig={"Delay": 15, "MaxAttempts": 240}
            )
        except WaiterError:
            raise DeployError(
                f"hub stack {placement.stack_name} did not {'create' if creating else 'update'}: "
                + self._failure_reasons(placement.stack_name)
            ) from None
        outputs = self._outputs(placement.stack_name)
        self.echo(f"hub stack {placement.stack_name}: {'created' if creating else 'updated'}")
        for key, value in sorted(outputs.items()):
            self.echo(f"  {key} = {value}")
        return outputs

    def _stack_status(self, stack_name: str) -> str | None:
        try:
            (stack,) = self._client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" in error.response.get("Error", {}).get("Message", ""):
                return None
            raise
        return str(stack["StackStatus"])

    def _print_changes(self, change_set: str) -> None:
        stack_name = self.environment.hub_placement.stack_name
        pages = self._client("cloudformation").get_paginator("describe_change_set")
        changes = [
            change["ResourceChange"]
            for page in pages.paginate(StackName=stack_name, ChangeSetName=change_set)
            for change in page.get("Changes", [])
        ]
        self.echo(f"hub stack {stack_name}: {len(changes)} changes")
        for change in changes:
            replacement = " (replacement)" if change.get("Replacement") == "True" else ""
            self.echo(f"  {change['Action']} {change['LogicalResourceId']} {change['ResourceType']}{replacement}")

    def _failure_reasons(self, stack_name: str) -> str:
        events = self._client("cloudformation").describe_stack_events(StackName=stack_name)["StackEvents"]
        reasons = [
            f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
            for event in events
            if str(event.get("ResourceStatus", "")).endswith("_FAILED")
        ]
        return (
            "; ".join(reasons[:FAILURES_SHOWN])
            or f"see aws cloudformation describe-stack-events --stack-name {stack_name}"
        )

    def _outputs(self, stack_name: str) -> dict[str, str]:
        (stack,) = self._client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}

    # The spoke StackSet -----------------------------------------------------------------------------------

    def _external_id(self, outputs: Mapping[str, str]) -> str:
        if EXTERNAL_ID_OUTPUT not in outputs:
            raise DeployError(f"the hub stack has no {EXTERNAL_ID_OUTPUT} output: deploy the hub first")
        secret = self._client("secretsmanager").get_secret_value(SecretId=outputs[EXTERNAL_ID_OUTPUT])
        return str(secret["SecretString"])

    def _deploy_spokes(self, template_url: str, external_id: str) -> None:
        placement = self.environment.spoke_placement
        cloudformation = self._client("cloudformation")
        parameters = [
            *self.environment.spoke.as_cloudformation(),
            {"ParameterKey": EXTERNAL_ID_PARAMETER, "ParameterValue": external_id},
        ]
        preferences = {
            "FailureTolerancePercentage": placement.failure_tolerance_percentage,
            "MaxConcurrentPercentage": placement.max_concurrent_percentage,
            "RegionConcurrencyType": placement.region_concurrency_type,
        }
        current = self._stack_set(placement)
        try:
            if current is None:
                cloudformation.create_stack_set(
                    StackSetName=placement.stack_set_name,
                    Description="EC2 Patching Orchestrator spokes: the role and documents the hub uses.",
                    TemplateURL=template_url,
                    Parameters=parameters,
                    Capabilities=CAPABILITIES,
                    PermissionModel="SERVICE_MANAGED",
                    AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
                    ManagedExecution={"Active": True},
                    Tags=_tags(placement.tags),
                    CallAs=placement.call_as,
                )
                self.echo(f"spoke StackSet {placement.stack_set_name}: created")
            elif self._stack_set_changed(current):
                operation = cloudformation.update_stack_set(
                    StackSetName=placement.stack_set_name,
                    TemplateURL=template_url,
                    Parameters=parameters,
                    Capabilities=CAPABILITIES,
                    OperationPreferences=preferences,
                    Tags=_tags(placement.tags),
                    CallAs=placement.call_as,
                )["OperationId"]
                self._wait_for_operation(operation, "update")
            else:
                self.echo(f"spoke StackSet {placement.stack_set_name}: no changes")
            if self._missing_instances(placement, current):
                operation = cloudformation.create_stack_instances(
                    StackSetName=placement.stack_set_name,
                    DeploymentTargets={"OrganizationalUnitIds": list(placement.organizational_unit_ids)},
                    Regions=list(placement.regions),
                    OperationPreferences=preferences,
                    CallAs=placement.call_as,
                )["OperationId"]
                self._wait_for_operation(operation, "add stack instances")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "OperationInProgressException":
                raise DeployError(
                    f"StackSet {placement.stack_set_name} has an operation running: wait for it (aws cloudformation "
                    f"list-stack-set-operations --stack-set-name {placement.stack_set_name} --call-as "
                    f"{placement.call_as}), then deploy again"
                ) from None
            raise

    def _stack_set(self, placement: SpokePlacement) -> dict[str, Any] | None:
        try:
            found = self._client("cloudformation").describe_stack_set(
                StackSetName=placement.stack_set_name, CallAs=placement.call_as
            )["StackSet"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "StackSetNotFoundException":
                return None
            raise
        return dict(found)

    def _stack_set_changed(self, current: Mapping[str, Any]) -> bool:
        """Whether the template or a committed parameter differs (the ExternalId is masked, and never changes)."""
        if current.get("TemplateBody", "").strip() != self.templates.spoke.strip():
            return True
        deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in current.get("Parameters", [])}
        wanted = self.environment.spoke.parameters
        return any(deployed.get(key) != value for key, value in wanted.items())

    def _missing_instances(self, placement: SpokePlacement, current: Mapping[str, Any] | None) -> bool:
        """Whether some OU and region of the environment has no stack instance yet."""
        if current is None:
            return True
        summaries = self._client("cloudformation").get_paginator("list_stack_instances")
        instances = [
            instance
            for page in summaries.paginate(StackSetName=placement.stack_set_name, CallAs=placement.call_as)
            for instance in page.get("Summaries", [])
        ]
        regions = {instance["Region"] for instance in instances}
        known_ous = set(current.get("OrganizationalUnitIds") or []) | {
            instance["OrganizationalUnitId"] for instance in instances if instance.get("OrganizationalUnitId")
        }
        return not set(placement.regions) <= regions or not set(placement.organizational_unit_ids) <= known_ous

    def _wait_for_operation(self, operation_id: str, what: str) -> None:
        placement = self.environment.spoke_placement
        cloudformation = self._client("cloudformation")
        deadline = time.monotonic() + self.operation_timeout_seconds
        while True:
            operation = cloudformation.describe_stack_set_operation(
                StackSetName=placement.stack_set_name, OperationId=operation_id, CallAs=placement.call_as
            )["StackSetOperation"]
            if operation["Status"] in OPERATION_DONE:
                break
            if time.monotonic() > deadline:
                raise DeployError(f"StackSet {placement.stack_set_name}: {what} ({operation_id}) still running")
            time.sleep(self.poll_seconds)
        if operation["Status"] != "SUCCEEDED":
            results = cloudformation.list_stack_set_operation_results(
                StackSetName=placement.stack_set_name, OperationId=operation_id, CallAs=placement.call_as
            )["Summaries"]
            failed = [r for r in results if r.get("Status") != "SUCCEEDED"]
            reasons = "; ".join(
                f"{r.get('Account')}/{r.get('Region')}: {r.get('StatusReason', '')}" for r in failed[:FAILURES_SHOWN]
            )
            raise DeployError(
                f"StackSet {placement.stack_set_name}: {what} {operation['Status']} in {len(failed)} stack instances"
                + (f": {reasons}" if reasons else "")
            )
        self.echo(f"spoke StackSet {placement.stack_set_name}: {what} succeeded")


@dataclass(frozen=True)
class Uploaded:
    """An object in the code bucket: its key and, in a versioned bucket, its version id ("" otherwise)."""

    key: str
    version: str


def _version(response: Mapping[str, Any]) -> str:
    version = str(response.get("VersionId") or "")
    return "" if version == "null" else version  # "null": written while versioning was off


def _tags(tags: Mapping[str, str]) -> Sequence[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
