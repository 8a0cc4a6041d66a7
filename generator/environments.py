"""An environment (dev, prod, ...): its stacks' parameter files and where they are deployed, checked together.

``parameters/`` holds, per environment::

    hub-<env>.json      parameters of output/hub.json        (CloudFormation's parameter-file format)
    spoke-<env>.json    parameters of output/spoke.json      (the StackSet's parameters)
    deploy-<env>.json   where: the hub account, region and stack; the StackSet, its OUs, regions, preferences

The files of one environment must agree with each other as well as with the templates: a spoke that names
another prefix or hub account than the hub would refuse every run. ``check`` finds every such problem, each a
line naming the file and the field.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema

from generator import parameter_files
from generator.parameter_files import ParameterFile, ParameterFileError, read_json
from handlers.contract import run_document
from handlers.contract.run_document import APPROVAL_AS_ASKED, ApprovalPolicy

# A Lambda account keeps at least this many concurrent executions unreserved.
UNRESERVED_MINIMUM = 100
HUB, SPOKE, DEPLOY = "hub", "spoke", "deploy"

DEPLOY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["hub", "spokes"],
    "properties": {
        "hub": {
            "type": "object",
            "additionalProperties": False,
            "required": ["accountId", "region", "stackName"],
            "properties": {
                "accountId": {"type": "string", "pattern": r"^\d{12}$"},
                "region": {"type": "string", "pattern": r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"},
                "stackName": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9-]{0,127}$"},
                # The deploy-role stack's CloudFormationRoleArn: CloudFormation creates the hub with this role.
                "cloudFormationRoleArn": {
                    "type": "string",
                    "pattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$",
                },
                "tags": {"$ref": "#/definitions/tags"},
            },
        },
        "spokes": {
            "type": "object",
            "additionalProperties": False,
            "required": ["stackSetName", "organizationalUnitIds", "regions"],
            "properties": {
                "stackSetName": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9-]{0,127}$"},
                "callAs": {"enum": ["SELF", "DELEGATED_ADMIN"], "default": "DELEGATED_ADMIN"},
                "organizationalUnitIds": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$"},
                },
                "regions": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"},
                },
                "failureTolerancePercentage": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10},
                "maxConcurrentPercentage": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
                "regionConcurrencyType": {"enum": ["SEQUENTIAL", "PARALLEL"], "default": "PARALLEL"},
                "tags": {"$ref": "#/definitions/tags"},
            },
        },
    },
    "definitions": {
        "tags": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"pattern": r"^(?!aws:)[\w.:/=+@ -]{1,128}$"},
            "additionalProperties": {"type": "string", "maxLength": 256},
        }
    },
}


@dataclass(frozen=True)
class HubPlacement:
    account_id: str
    region: str
    stack_name: str
    tags: dict[str, str]
    # The role CloudFormation uses for the hub stack; None: the deployer's own credentials.
    cloudformation_role_arn: str | None = None


@dataclass(frozen=True)
class SpokePlacement:
    stack_set_name: str
    call_as: str
    organizational_unit_ids: tuple[str, ...]
    regions: tuple[str, ...]
    failure_tolerance_percentage: int
    max_concurrent_percentage: int
    region_concurrency_type: str
    tags: dict[str, str]


@dataclass(frozen=True)
class Environment:
    """Everything one deploy of an environment needs, checked."""

    name: str
    hub: ParameterFile
    spoke: ParameterFile
    hub_placement: HubPlacement
    spoke_placement: SpokePlacement
    reserved_concurrency: int
    templates: Mapping[str, Mapping[str, Any]]

    @property
    def approval_policy(self) -> ApprovalPolicy:
        """The approval policy this environment's hub applies to every run document."""
        template, value = self.templates[HUB], self.hub.value
        return ApprovalPolicy.from_settings(
            value("ApprovalRequiredWaves", template),
            value("Approvers", template),
            int(value("MinimumApprovers", template)),
            int(value("MaximumApprovalMinutes", template)),
        )

    @property
    def default_concurrency(self) -> dict[str, int]:
        """Accounts and regions at once, where a run document does not say."""
        template = self.templates[HUB]
        return {
            "accounts": int(self.hub.value("DefaultAccountConcurrency", template)),
            "regions": int(self.hub.value("DefaultRegionConcurrency", template)),
        }

    def normalise_run(self, document: Any, run_id: str) -> dict[str, Any]:
        """``document`` checked exactly as this environment's ValidateRun will (``InvalidRunDocument`` if not)."""
        return run_document.normalise(
            document,
            run_id=run_id,
            default_concurrency=self.default_concurrency,
            approval_policy=self.approval_policy,
            allowed_accounts=run_document.target_accounts(self.hub.value("TargetAccountIds", self.templates[HUB])),
        )

    @property
    def required_lambda_quota(self) -> int:
        """The concurrent executions the hub account must allow: what the functions reserve, plus Lambda's minimum."""
        return self.reserved_concurrency + UNRESERVED_MINIMUM


def names(directory: Path) -> list[str]:
    """The environments that have a deployment file in ``directory``."""
    return sorted(path.stem.removeprefix(f"{DEPLOY}-") for path in directory.glob(f"{DEPLOY}-*.json"))


def load(name: str, directory: Path, templates: Mapping[str, Mapping[str, Any]]) -> Environment:
    """Environment ``name`` from ``directory``, checked file by file and together; ``ParameterFileError`` lists
    every problem. ``templates`` maps ``hub``/``spoke`` to the templates the files deploy."""
    problems: list[str] = []
    loaded: dict[str, ParameterFile] = {}
    for stack in (HUB, SPOKE):
        path = directory / f"{stack}-{name}.json"
        if not path.is_file():
            problems.append(f"{path}: missing: environment {name!r} needs a {stack} parameter file")
            continue
        try:
            loaded[stack] = parameter_files.load(path, templates[stack])
        except ParameterFileError as error:
            problems += error.problems
    deploy_path = directory / f"{DEPLOY}-{name}.json"
    try:
        placement = _placement(deploy_path)
    except ParameterFileError as error:
        problems += error.problems
        placement = None
    if problems or placement is None:
        raise ParameterFileError(problems)
    hub, spoke = loaded[HUB], loaded[SPOKE]
    hub_placement, spoke_placement = placement
    problems = list(_together(hub, spoke, hub_placement, deploy_path, templates))
    if problems:
        raise ParameterFileError(problems)
    reserved = reserved_concurrency(templates[HUB], hub)
    return Environment(name, hub, spoke, hub_placement, spoke_placement, reserved, templates)


def reserved_concurrency(template: Mapping[str, Any], hub: ParameterFile) -> int:
    """The concurrent executions the hub's functions reserve with these parameters (summed over functions)."""
    total = 0
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            reserved = resource["Properties"].get("ReservedConcurrentExecutions")
            if isinstance(reserved, dict) and "Fn::If" in reserved:  # [condition, reserved, no value]
                condition, reserved, _ = reserved["Fn::If"]
                if not _holds(template["Conditions"][condition], template, hub):
                    continue
            if isinstance(reserved, dict) and "Ref" in reserved:
                total += int(hub.value(reserved["Ref"], template))
            elif isinstance(reserved, int):
                total += reserved
    return total


def _holds(condition: Mapping[str, Any], template: Mapping[str, Any], hub: ParameterFile) -> bool:
    """A condition of the form ``{"Fn::Equals": [{"Ref": <parameter>}, <value>]}`` with these parameters."""
    (left, right) = condition["Fn::Equals"]
    return bool(hub.value(left["Ref"], template) == right)


@functools.cache
def _deploy_validator() -> Any:
    return fastjsonschema.compile(DEPLOY_SCHEMA)


def _placement(path: Path) -> tuple[HubPlacement, SpokePlacement]:
    if not path.is_file():
        raise ParameterFileError([f"{path}: missing: where to deploy (hub account, region, StackSet targets)"])
    document = read_json(path, what="deployment file")
    try:
        checked = _deploy_validator()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        field = str(error.name).removeprefix("data").removeprefix(".") or "(file)"
        detail = str(error.message).removeprefix(str(error.name)).strip()
        raise ParameterFileError([f"{path}: {field}: {detail}"]) from None
    hub, spokes = checked["hub"], checked["spokes"]
    return (
        HubPlacement(
            hub["accountId"],
            hub["region"],
            hub["stackName"],
            dict(hub.get("tags", {})),
            cloudformation_role_arn=hub.get("cloudFormationRoleArn"),
        ),
        SpokePlacement(
            stack_set_name=spokes["stackSetName"],
            call_as=spokes["callAs"],
            organizational_unit_ids=tuple(spokes["organizationalUnitIds"]),
            regions=tuple(spokes["regions"]),
            failure_tolerance_percentage=spokes["failureTolerancePercentage"],
            max_concurrent_percentage=spokes["maxConcurrentPercentage"],
            region_concurrency_type=spokes["regionConcurrencyType"],
            tags=dict(spokes.get("tags", {})),
        ),
    )


def _together(
    hub: ParameterFile,
    spoke: ParameterFile,
    placement: HubPlacement,
    deploy_path: Path,
    templates: Mapping[str, Mapping[str, Any]],
) -> Iterator[str]:
    """What the hub, the spokes and the placement must agree on."""
    hub_template, spoke_template = templates[HUB], templates[SPOKE]
    hub_prefix, spoke_prefix = hub.value("NamePrefix", hub_template), spoke.value("NamePrefix", spoke_template)
    if hub_prefix != spoke_prefix:
        yield (
            f"{spoke.path}: NamePrefix: {spoke_prefix!r} differs from the hub's {hub_prefix!r} ({hub.path}): "
            "spoke roles would trust no hub role"
        )
    hub_account = spoke.value("HubAccountId", spoke_template)
    if hub_account != placement.account_id:
        yield (
            f"{spoke.path}: HubAccountId: {hub_account!r} is not the hub's account {placement.account_id!r} "
            f"({deploy_path})"
        )
    hub_region = spoke.value("HubRegion", spoke_template)
    if hub_region != placement.region:
        yield (
            f"{spoke.path}: HubRegion: {hub_region!r} is not the hub's region {placement.region!r} ({deploy_path}): "
            "spoke roles would trust no hub role"
        )
    yield from _key_administrator_problems(hub, hub_template, placement)
    role = placement.cloudformation_role_arn
    if role is not None and role.split(":")[4] != placement.account_id:
        yield (
            f"{deploy_path}: hub.cloudFormationRoleArn: a role of account {role.split(':')[4]}; CloudFormation "
            f"in {placement.account_id} can only use a role of its own account"
        )
    layer = hub.value("PowertoolsLayerArn", hub_template)
    layer_region = layer.split(":")[3] if layer.count(":") >= 3 else ""
    if layer_region and layer_region != placement.region:
        yield (
            f"{hub.path}: PowertoolsLayerArn: a layer in {layer_region}; functions in {placement.region} can only "
            "use layers of their own region"
        )
    yield from _approval_policy_problems(hub, hub_template, placement, deploy_path)
    key_arn = spoke.value("HubKeyArn", spoke_template)
    if key_arn:
        _, _, _, key_region, key_account, *_ = [*key_arn.split(":"), "", "", "", "", ""]
        if (key_region, key_account) != (placement.region, placement.account_id):
            yield f"{spoke.path}: HubKeyArn: not a key of the hub's account and region ({deploy_path})"
        if hub.value("ShareInstanceOutput", hub_template) != "true":
            yield (
                f"{spoke.path}: HubKeyArn: instance output is set up in the spokes but the hub's "
                f"ShareInstanceOutput is not true ({hub.path}): the bucket would refuse the writes"
            )


def _key_administrator_problems(
    hub: ParameterFile, hub_template: Mapping[str, Any], placement: HubPlacement
) -> Iterator[str]:
    """The key administrators are roles of the hub's account, at least one, and among them the CloudFormation role
    that writes the key policies."""
    administrators = [arn for arn in hub.value("KeyAdministratorArns", hub_template).split(",") if arn]
    if not administrators:
        yield (
            f"{hub.path}: KeyAdministratorArns: empty; name the role that deploys the hub (KMS refuses a key "
            "policy that locks its caller out)"
        )
    deployer = placement.cloudformation_role_arn
    if administrators and deployer is not None and deployer not in administrators:
        yield (
            f"{hub.path}: KeyAdministratorArns: does not include the CloudFormation role {deployer!r}, which writes "
            "the key policies: KMS would refuse them (lockout safety check)"
        )
    for role_arn in administrators:
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        if account != placement.account_id:
            yield (
                f"{hub.path}: KeyAdministratorArns: {role_arn} is not a role of the hub's account "
                f"{placement.account_id}: it could never administer the keys"
            )


def _approval_policy_problems(
    hub: ParameterFile, template: Mapping[str, Any], placement: HubPlacement, deploy_path: Path
) -> Iterator[str]:
    """An approval policy that could never be met, or administrators outside the hub's account."""
    required = hub.value("ApprovalRequiredWaves", template)
    approvers = [address for address in hub.value("Approvers", template).split(",") if address]
    minimum = int(hub.value("MinimumApprovers", template))
    if required != APPROVAL_AS_ASKED and not approvers:
        yield (
            f"{hub.path}: Approvers: empty, but ApprovalRequiredWaves is {required!r}: every gated wave would halt "
            "for want of an approver"
        )
    if approvers and len({address.lower() for address in approvers}) < minimum:
        yield (
            f"{hub.path}: MinimumApprovers: {minimum}, but Approvers names only "
            f"{len({address.lower() for address in approvers})} distinct addresses: no wave could be approved"
        )
    administrators = [item.strip() for item in hub.value("ApprovalAdministratorArns", template).split(",")]
    deployer = placement.cloudformation_role_arn
    if deployer and deployer not in administrators:
        yield (
            f"{hub.path}: ApprovalAdministratorArns: does not include the CloudFormation role {deployer!r} "
            f"({deploy_path}): the stack could not write the approvals topic's or the run table's policy"
        )
    for arn in administrators:
        account = arn.split(":")[4] if arn.count(":") >= 5 else ""
        if account != placement.account_id:
            yield (
                f"{hub.path}: ApprovalAdministratorArns: {arn!r} is not a role of the hub's account "
                f"{placement.account_id!r} ({deploy_path})"
            )
