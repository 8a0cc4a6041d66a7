"""How the hub reaches spokes: the ExternalId secret, and the grants of the hub's fleet roles."""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Action, Condition, StringEquals
from troposphere import Ref, Sub, Template
from troposphere.secretsmanager import GenerateSecretString, Secret

from generator import naming
from generator.encryption import EncryptionRefs
from generator.iam import Grant
from generator.retention import retained
from handlers.contract import conventions

EXTERNAL_ID_LENGTH = 32


@dataclass(frozen=True)
class SpokeAccessRefs:
    external_id: Secret
    encryption: EncryptionRefs

    def fleet_grants(self) -> tuple[Grant, ...]:
        """What a function that works in spokes needs: assume the spoke roles and read the ExternalId."""
        spoke_roles = Sub(
            "arn:${AWS::Partition}:iam::*:role/"
            + conventions.SPOKE_ROLE_NAME.format(prefix="${NamePrefix}", region="*")
        )
        return (
            Grant(
                "AssumeSpokeRoles",
                (Action("sts", "AssumeRole"), Action("sts", "SetSourceIdentity")),
                (spoke_roles,),
            ),
            Grant("ReadExternalId", (Action("secretsmanager", "GetSecretValue"),), (Ref(self.external_id),)),
            Grant(
                "DecryptExternalId",
                (Action("kms", "Decrypt"),),
                (self.encryption.key_arn,),
                Condition(StringEquals("kms:ViaService", Sub("secretsmanager.${AWS::Region}.amazonaws.com"))),
            ),
        )


def add_spoke_access(template: Template, encryption: EncryptionRefs) -> SpokeAccessRefs:
    """The ExternalId every spoke role requires, generated here so it is never typed or committed."""
    # Retained: every spoke's trust policy holds this value, so losing it would cut the hub off from the fleet.
    secret = template.add_resource(
        retained(
            Secret(
                "SpokeExternalIdSecret",
                Name=naming.prefixed("/spoke-external-id"),
                Description="ExternalId the spoke roles require; pass it to the spoke StackSet as ExternalId.",
                KmsKeyId=encryption.key_arn,
                GenerateSecretString=GenerateSecretString(
                    PasswordLength=EXTERNAL_ID_LENGTH, ExcludePunctuation=True, IncludeSpace=False
                ),
            )
        )
    )
    return SpokeAccessRefs(secret, encryption)
