"""Who administers the hub's keys: the roles named in ``KeyAdministratorArns``, and nobody else.

Every key policy still lets the account delegate *use* of a key through IAM (without that statement no identity
policy could grant a function ``kms:Decrypt``), but an IAM policy granting ``kms:*`` no longer reaches the
key's administration: changing its policy (forge approval links with the signing key, decrypt the run table),
granting use to another principal, retagging it for an ABAC policy, moving its aliases, disabling or deleting it.
Each key policy denies those to every principal but the administrator roles.

KMS's policy lockout safety check refuses a key policy (on create and on every ``PutKeyPolicy``) that would not
let the calling principal call ``PutKeyPolicy`` afterwards, so a deployer missing from the administrators gets a
failed stack operation, never a key nobody can administer.
"""

from __future__ import annotations

from typing import Any

from awacs import kms
from awacs.aws import Bool, BoolIfExists, Statement

from generator.iam import account_administers_key, deny_all_but

ADMINISTRATION_ACTIONS = (
    kms.CancelKeyDeletion,
    kms.CreateAlias,
    kms.DeleteAlias,
    kms.DeleteImportedKeyMaterial,
    kms.DisableKey,
    kms.DisableKeyRotation,
    kms.EnableKey,
    kms.EnableKeyRotation,
    kms.ImportKeyMaterial,
    kms.PutKeyPolicy,
    kms.ReplicateKey,
    kms.RotateKeyOnDemand,
    kms.ScheduleKeyDeletion,
    kms.TagResource,
    kms.UntagResource,
    kms.UpdateAlias,
    kms.UpdateKeyDescription,
    kms.UpdatePrimaryRegion,
)


# AWS services acting as themselves are exempt: no one can assume their identity, and some of them (DynamoDB's
# background grants) manage grants of their own on keys they were given.
NOT_AN_AWS_SERVICE = Bool("aws:PrincipalIsAWSService", "false")


def administered_by(administrators: Any) -> list[Statement]:
    """The key-policy statements that give administration to ``administrators`` (a list of role ARNs) only."""
    return [
        account_administers_key(),
        deny_all_but(
            "OnlyKeyAdministratorsAdministerTheKey",
            ADMINISTRATION_ACTIONS,
            ["*"],
            administrators,
            NOT_AN_AWS_SERVICE,
        ),
        # Grants for AWS resources stay possible: Lambda grants itself use of the key that encrypts a function's
        # environment, DynamoDB of the table's key, each when the deployer creates the resource.
        deny_all_but(
            "OnlyKeyAdministratorsGrantUseToPrincipals",
            [kms.CreateGrant, kms.RevokeGrant],
            ["*"],
            administrators,
            NOT_AN_AWS_SERVICE,
            BoolIfExists("kms:GrantIsForAWSResource", "false"),
        ),
    ]
