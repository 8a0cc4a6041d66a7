"""The shared naming conventions (``handlers.contract.conventions``) rendered as CloudFormation values."""

from __future__ import annotations

from troposphere import Parameter, Ref, Sub, Template

from generator.iam import arn
from handlers.contract import conventions

NAME_PREFIX_PARAMETER = "NamePrefix"
_PREFIX = f"${{{NAME_PREFIX_PARAMETER}}}"


def add_name_prefix(template: Template) -> Parameter:
    """The ``NamePrefix`` parameter: hub and spokes of one installation must use the same value."""
    return template.add_parameter(
        Parameter(
            NAME_PREFIX_PARAMETER,
            Type="String",
            Default=conventions.DEFAULT_NAME_PREFIX,
            # SSM refuses document names (<prefix>-PrePatchSnapshot) that start with aws, amazon or amzn.
            AllowedPattern="^(?!aws|amazon|amzn)[a-z][a-z0-9-]{1,29}$",
            ConstraintDescription=(
                "lower-case letters, digits and hyphens; 2 to 30 characters; not starting with aws, amazon or amzn"
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


def hub_fleet_role_arn_pattern(hub_account: Ref) -> Sub:
    """``arn:<partition>:iam::<hub>:role/<prefix>-fleet-*-*``: the principals a spoke role trusts."""
    name = conventions.HUB_FLEET_ROLE_NAME.format(prefix=_PREFIX, purpose="*", region="*")
    return arn("iam", f"role/{name}", region=False, account="${HubAccountId}", HubAccountId=hub_account)


def snapshot_document_name() -> Sub:
    """The spoke's snapshot document name."""
    return Sub(conventions.SNAPSHOT_DOCUMENT_NAME.format(prefix=_PREFIX))
