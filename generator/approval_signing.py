"""The approval signing key: a KMS HMAC key that signs approval links, usable only by the approval functions.

IAM policies in the account could otherwise grant anyone ``kms:GenerateMac``; the key policy denies generating
MACs to every principal except RequestApproval's role, and verifying them to every principal except the two
approval API roles. The roles are named by convention, so the key policy names them without depending on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from awacs import kms
from awacs.aws import Action, Statement
from troposphere import GetAtt, Template
from troposphere.kms import Alias, Key

from generator import naming, suppressions
from generator.iam import Grant, deny_all_but, policy_document
from generator.key_administration import administered_by
from generator.retention import retained
from handlers.contract import environment
from handlers.contract.environment import Variable

REQUEST = "request"
PAGE = "page"
DECISION = "decision"


@dataclass(frozen=True)
class ApprovalSigningRefs:
    key: Key

    @property
    def key_arn(self) -> GetAtt:
        return GetAtt(self.key, "Arn")

    def sign_grant(self) -> Grant:
        return Grant("SignApprovalLinks", (kms.GenerateMac,), (self.key_arn,))

    def verify_grant(self) -> Grant:
        return Grant("VerifyApprovalLinks", (kms.VerifyMac,), (self.key_arn,))

    def settings(self) -> Mapping[Variable, Any]:
        return {environment.APPROVAL_KEY_ARN: self.key_arn}


def _only(sid: str, action: Action, *purposes: str) -> Statement:
    """Deny ``action`` on the key to every principal but the approval roles of ``purposes``."""
    return deny_all_but(sid, [action], ["*"], [naming.hub_approval_role_arn(purpose) for purpose in purposes])


def add_approval_signing(template: Template, administrators: Any) -> ApprovalSigningRefs:
    """The HMAC key and its alias; ``administrators`` (role ARNs) alone administer it."""
    # Retained like every key of the hub: a stack replacement must not invalidate links already sent.
    key = template.add_resource(
        retained(
            Key(
                "ApprovalSigningKey",
                Description="Patch orchestrator hub: signs and verifies approval links (HMAC).",
                KeySpec="HMAC_256",
                PendingWindowInDays=7,
                KeyPolicy=policy_document(
                    [
                        *administered_by(administrators),
                        _only("OnlyRequestApprovalSignsLinks", kms.GenerateMac, REQUEST),
                        _only("OnlyTheApprovalApiVerifiesLinks", kms.VerifyMac, PAGE, DECISION),
                    ]
                ),
            )
        )
    )
    key.Metadata = {
        "checkov": suppressions.checkov(
            ("CKV_AWS_7", "KMS rotates symmetric encryption keys only; an HMAC key cannot rotate.")
        )
    }
    # troposphere 4.11's validator predates HMAC keys and refuses this KeyUsage, which CloudFormation accepts.
    key.properties["KeyUsage"] = "GENERATE_VERIFY_MAC"
    template.add_resource(
        Alias(
            "ApprovalSigningKeyAlias",
            AliasName=naming.prefixed("-approval-signing", before="alias/"),
            TargetKeyId=key.ref(),
        )
    )
    return ApprovalSigningRefs(key)
