"""IAM building blocks: partition-safe ARNs, grants, and policy documents with sorted, named statements.

Every policy in the templates goes through ``policy_document`` so statements are ordered by Sid and Sids are
unique. ARNs the generator writes go through ``arn`` so no partition, region or account is ever hard-coded (a
test finds any ``arn:`` string built elsewhere). Actions are awacs' constants, never strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from awacs import kms, sts
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    ArnNotEquals,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import AWSHelperFn, If, Sub

POLICY_VERSION = "2012-10-17"
THIS_ACCOUNT = "${AWS::AccountId}"


def arn(service: str, resource: str, *, region: bool = True, account: str | bool = True, **variables: Any) -> Sub:
    """``arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:<resource>`` as an ``Fn::Sub``.

    ``account`` is this account (True), none (False, as in S3 and AWS-owned ARNs) or another account's text (a
    ``${Reference}``, ``aws``, ``*``). ``resource`` may itself use ``${...}`` references, bound in ``variables``
    or naming parameters, pseudo parameters and policy variables (escaped as ``${!aws:...}``).
    """
    region_part = "${AWS::Region}" if region else ""
    account_part = THIS_ACCOUNT if account is True else (account or "")
    text = f"arn:${{AWS::Partition}}:{service}:{region_part}:{account_part}:{resource}"
    return Sub(text, **variables) if variables else Sub(text)


def account_root(account: str = THIS_ACCOUNT, **variables: Any) -> Sub:
    """The ARN that names a whole account as a principal (``arn:<partition>:iam::<account>:root``)."""
    return arn("iam", "root", region=False, account=account, **variables)


def deny_insecure_transport(sid: str, actions: Sequence[Action], resources: Sequence[Any]) -> Statement:
    """The resource-policy statement that refuses ``actions`` over plain HTTP, to every principal."""
    return Statement(
        Sid=sid,
        Effect=Deny,
        Principal=Principal("*"),
        Action=list(actions),
        Resource=list(resources),
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )


def deny_all_but(
    sid: str, actions: Sequence[Action], resources: Sequence[Any], principals: Any, *also: Any
) -> Statement:
    """The resource-policy statement that refuses ``actions`` to every principal whose ARN is not among
    ``principals`` (a list, or a ``Ref`` to a list parameter), where every condition of ``also`` holds too.

    An explicit Deny in a resource's own policy outweighs any Allow an identity policy gives (PowerUserAccess)."""
    return Statement(
        Sid=sid,
        Effect=Deny,
        Principal=Principal("AWS", "*"),
        Action=list(actions),
        Resource=list(resources),
        Condition=Condition([*also, ArnNotEquals("aws:PrincipalArn", principals)]),
    )


def canonical(value: Any) -> str:
    """A stable text form of a JSON value that may hold troposphere/awacs objects (for sorting and equality)."""
    return json.dumps(value, sort_keys=True, default=_encode)


def _encode(value: Any) -> Any:
    if isinstance(value, AWSHelperFn):
        return value.to_dict()
    if hasattr(value, "JSONrepr"):
        return value.JSONrepr()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


@dataclass(frozen=True)
class Grant:
    """Permission a component needs: ``actions`` on ``resources``, named ``sid`` in the resulting policy."""

    sid: str
    actions: tuple[Action, ...]
    resources: tuple[Any, ...]
    condition: Condition | None = None

    def __post_init__(self) -> None:
        if not self.sid.isalnum():
            raise ValueError(f"Sid {self.sid!r} must be alphanumeric")
        for action in self.actions:
            name = action.JSONrepr()
            if "*" in name:
                raise ValueError(f"Grant {self.sid}: wildcard action {name!r} is not allowed")

    def statement(self) -> Statement:
        actions = sorted(self.actions, key=lambda a: a.JSONrepr())
        resources = sorted(self.resources, key=canonical)
        extra = {"Condition": self.condition} if self.condition is not None else {}
        return Statement(Sid=self.sid, Effect=Allow, Action=actions, Resource=resources, **extra)


def table_key_grant(key_arn: Any) -> Grant:
    """Use of a DynamoDB table's customer-managed key, only through DynamoDB (callers need it on every request)."""
    return Grant(
        "UseRunTableKey",
        (kms.Decrypt, kms.DescribeKey, kms.Encrypt, kms.GenerateDataKey),
        (key_arn,),
        Condition(StringEquals("kms:ViaService", Sub("dynamodb.${AWS::Region}.amazonaws.com"))),
    )


def merge_grants(grants: Iterable[Grant]) -> tuple[Grant, ...]:
    """Drop exact repeats (two tasks invoking one function) and refuse one Sid meaning two things."""
    by_sid: dict[str, Grant] = {}
    for grant in grants:
        seen = by_sid.get(grant.sid)
        if seen is None:
            by_sid[grant.sid] = grant
        elif canonical(seen.statement()) != canonical(grant.statement()):
            raise ValueError(f"two different grants share the Sid {grant.sid!r}")
    return tuple(by_sid[sid] for sid in sorted(by_sid))


def policy_document(statements: Sequence[Statement]) -> PolicyDocument:
    """A policy document whose statements are sorted by Sid; every statement must have a unique Sid."""
    sids: list[str] = [statement.properties.get("Sid") or "" for statement in statements]
    if not all(sids):
        raise ValueError("every policy statement needs a Sid")
    duplicates = sorted({sid for sid in sids if sids.count(sid) > 1})
    if duplicates:
        raise ValueError(f"duplicate Sids in one policy: {duplicates}")
    for statement, sid in zip(statements, sids, strict=True):
        _check_condition(sid, statement.properties.get("Condition"))
    ordered = sorted(statements, key=lambda statement: statement.properties["Sid"])
    return PolicyDocument(Version=POLICY_VERSION, Statement=ordered)


def policy_document_if(condition: str, always: Sequence[Statement], when: Sequence[Statement]) -> If:
    """``always`` plus ``when`` if ``condition`` holds, else ``always`` only (statements cannot be conditional)."""
    return If(condition, policy_document([*always, *when]), policy_document(always))


def _check_condition(sid: str, condition: Any) -> None:
    """Refuse two blocks with one operator: they render as one JSON key and the last silently wins."""
    if not isinstance(condition, Condition) or not isinstance(condition.conditions, list):
        return
    operators = [type(block).__name__ for block in condition.conditions]
    repeated = sorted({name for name in operators if operators.count(name) > 1})
    if repeated:
        raise ValueError(f"statement {sid}: {repeated} given more than once; put all its keys in one block")


def grants_document(grants: Iterable[Grant]) -> PolicyDocument:
    """The identity policy that carries ``grants``."""
    return policy_document([grant.statement() for grant in merge_grants(grants)])


def service_trust(service: str, *, source_arn: Any | None = None, confine: bool = True) -> PolicyDocument:
    """Trust policy for an AWS service principal, confined to this account (confused-deputy protection).

    ``confine=False`` for services that do not send source context when assuming a role (Lambda execution
    roles): a condition there would only stop the function from starting.
    """
    conditions: list[Any] = [StringEquals("aws:SourceAccount", Sub("${AWS::AccountId}"))] if confine else []
    if source_arn is not None:
        conditions.append(ArnLike("aws:SourceArn", source_arn))
    extra = {"Condition": Condition(conditions)} if conditions else {}
    statement = Statement(
        Sid="TrustedService",
        Effect=Allow,
        Principal=Principal("Service", service),
        Action=[sts.AssumeRole],
        **extra,
    )
    return policy_document([statement])


def account_administers_key() -> Statement:
    """The key-policy statement without which no IAM policy in the account could grant use of a key."""
    return Statement(
        Sid="AccountAdministersKeyThroughIam",
        Effect=Allow,
        Principal=Principal("AWS", account_root()),
        Action=[kms.Action("*")],
        Resource=["*"],
    )
