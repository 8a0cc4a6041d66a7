"""How the hub reaches spokes: the ExternalId secret, and the grants and names of the hub's fleet roles.

The fleet roles assume spoke roles only in accounts of the hub's organisation (``aws:ResourceOrgID``), so a run
document naming any other account reaches nothing; and only they (and the key administrators, who deploy the
spokes with it) may read the ExternalId.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from awacs import kms, secretsmanager, sts
from awacs.aws import Condition, StringEquals
from troposphere import Join, Parameter, Ref, Split, Sub, Template
from troposphere.secretsmanager import GenerateSecretString, ResourcePolicy, Secret

from generator import naming
from generator.encryption import EncryptionRefs
from generator.iam import Grant, arn, deny_all_but, policy_document
from generator.parameters import HubParameters
from generator.retention import retained
from handlers.contract import conventions, environment
from handlers.contract.environment import Variable

EXTERNAL_ID_LENGTH = 32


@dataclass(frozen=True)
class SpokeAccessRefs:
    external_id: Secret
    encryption: EncryptionRefs
    organization_id: Parameter

    def fleet_role_name(self, purpose: str) -> Sub:
        """The role name of a function that works in spokes: the only kind of principal a spoke role trusts."""
        if purpose not in conventions.FLEET_PURPOSES:
            raise ValueError(f"fleet role purpose {purpose!r} is not in FLEET_PURPOSES: spoke roles would not trust it")
        return naming.hub_fleet_role_name(purpose)

    def fleet_grants(self) -> tuple[Grant, ...]:
        """What a function that works in spokes needs: assume the spoke roles and read the ExternalId."""
        spoke_roles = arn(
            "iam",
            "role/" + conventions.SPOKE_ROLE_NAME.format(prefix="${NamePrefix}", region="*"),
            region=False,
            account="*",
        )
        return (
            Grant(
                "AssumeSpokeRoles",
                (sts.AssumeRole, sts.SetSourceIdentity),
                (spoke_roles,),
                Condition(StringEquals("aws:ResourceOrgID", Ref(self.organization_id))),
            ),
            Grant("ReadExternalId", (secretsmanager.GetSecretValue,), (Ref(self.external_id),)),
            self.encryption.grant_through("secretsmanager", "DecryptExternalId", (kms.Decrypt,)),
        )

    def settings(self) -> Mapping[Variable, Any]:
        return {environment.EXTERNAL_ID_SECRET_ARN: Ref(self.external_id)}


def add_spoke_access(template: Template, parameters: HubParameters, encryption: EncryptionRefs) -> SpokeAccessRefs:
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
    readers = Split(",", Join(",", [Join(",", parameters.key_administrator_arns()), *naming.hub_fleet_role_arns()]))
    template.add_resource(
        ResourcePolicy(
            "SpokeExternalIdSecretPolicy",
            SecretId=Ref(secret),
            BlockPublicPolicy=True,
            ResourcePolicy=policy_document(
                [
                    # Management stays with IAM (CloudFormation updates the secret with the deployer's rights);
                    # the value itself only with the roles that present it or pass it to the spokes.
                    deny_all_but(
                        "OnlyFleetRolesAndKeyAdministratorsReadTheExternalId",
                        [secretsmanager.GetSecretValue],
                        ["*"],
                        readers,
                    )
                ]
            ),
        )
    )
    return SpokeAccessRefs(secret, encryption, parameters.organization_id)
