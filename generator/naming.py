"""The shared naming conventions (``handlers.contract.conventions``) rendered as CloudFormation values."""

from __future__ import annotations

from typing import Any

from troposphere import Parameter, Sub, Template

from generator.iam import THIS_ACCOUNT, arn
from handlers.contract import conventions

NAME_PREFIX_PARAMETER = "NamePrefix"
_PREFIX = f"${{{NAME_PREFIX_PARAMETER}}}"
ARTIFACT_BUCKET_NAME = "{prefix}-runs-${{AWS::AccountId}}-${{AWS::Region}}"


def add_name_prefix(template: Template) -> Parameter:
    """The ``NamePrefix`` parameter: hub and spokes of one installation must use the same value."""
    return template.add_parameter(
        Parameter(
            NAME_PREFIX_PARAMETER,
            Type="String",
            Default=conventions.DEFAULT_NAME_PREFIX,
            # SSM refuses document names (<prefix>-PrePatchSnapshot) that start with aws, amazon or amzn; S3
            # refuses bucket names (<prefix>-runs-...) that start with xn-- or sthree-.
            AllowedPattern="^(?!aws|amazon|amzn|xn--|sthree-)[a-z][a-z0-9-]{1,29}$",
            ConstraintDescription=(
                "lower-case letters, digits and hyphens; 2 to 30 characters; not starting with aws, amazon, amzn, "
                "xn-- or sthree-"
            ),
            Description="Prefix of every named resource; identical in the hub and all spokes of one installation.",
        )
    )


def prefixed(suffix: str, *, before: str = "") -> Sub:
    """``<before>${NamePrefix}<suffix>`` as an ``Fn::Sub``."""
    return Sub(before + _PREFIX + suffix)


def spoke_role_name() -> Sub:
    """This region's spoke role name (used inside the spoke template)."""
    return Sub(conventions.SPOKE_ROLE_NAME.format(prefix=_PREFIX, region="${AWS::Region}"))


def hub_fleet_role_name(purpose: str) -> Sub:
    """The name of a hub role (in this region) that may assume spoke roles."""
    return Sub(conventions.HUB_FLEET_ROLE_NAME.format(prefix=_PREFIX, purpose=purpose, region="${AWS::Region}"))


def hub_approval_role_name(purpose: str) -> Sub:
    """The name of an approval function's role in this region."""
    return Sub(conventions.HUB_APPROVAL_ROLE_NAME.format(prefix=_PREFIX, purpose=purpose, region="${AWS::Region}"))


def hub_approval_role_arn(purpose: str) -> Sub:
    """Its ARN, built from the name so a key policy can name the role without depending on it."""
    name = conventions.HUB_APPROVAL_ROLE_NAME.format(prefix=_PREFIX, purpose=purpose, region="${AWS::Region}")
    return arn("iam", f"role/{name}", region=False)


def hub_fleet_role_arns(account: str = THIS_ACCOUNT, region: str = "${AWS::Region}", **variables: Any) -> list[Sub]:
    """The exact ARNs of the hub's fleet roles in ``account`` and ``region`` (``${...}`` text bound in
    ``variables``): the only principals a spoke role trusts, since a pattern would admit any role someone creates
    with a matching name, and ``*`` in an ARN also matches paths."""
    return [
        arn(
            "iam",
            "role/" + conventions.HUB_FLEET_ROLE_NAME.format(prefix=_PREFIX, purpose=purpose, region=region),
            region=False,
            account=account,
            **variables,
        )
        for purpose in conventions.FLEET_PURPOSES
    ]


def artifact_bucket_name() -> Sub:
    """The hub's artifact bucket, named so the hub key's policy can name it without depending on it.
    Longest: 30 (prefix) + 6 + 12 (account) + 1 + 14 (region) = 63, S3's limit."""
    return Sub(ARTIFACT_BUCKET_NAME.format(prefix=_PREFIX))


def artifact_bucket_arn() -> Sub:
    """Its ARN, built from the name."""
    return arn("s3", ARTIFACT_BUCKET_NAME.format(prefix=_PREFIX), region=False, account=False)


def patch_document_name() -> Sub:
    """The spoke's patch wrapper document name."""
    return Sub(conventions.PATCH_WRAPPER_DOCUMENT_NAME.format(prefix=_PREFIX))


def snapshot_document_name() -> Sub:
    """The spoke's snapshot document name."""
    return Sub(conventions.SNAPSHOT_DOCUMENT_NAME.format(prefix=_PREFIX))


def instance_output_objects(account: str) -> str:
    """The keys ``account``'s instances may write: everything under its own instance-output prefix (the
    account is the first variable segment, so no wildcard before it can reach another account's keys)."""
    fixed, _, _ = conventions.INSTANCE_OUTPUT_PREFIX.partition("{account}")
    return f"{fixed}{account}/*"
