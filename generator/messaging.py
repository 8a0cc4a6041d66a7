"""Notifications: run outcomes and approval requests, each an SNS topic under the hub key, TLS-only publish.

Approval requests go to their own topic: one message per approver, with message attribute ``approver``, so each
approver's email subscription (filter policy ``{"approver": ["<address>"]}``) receives only their own links.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from awacs import kms, sns
from awacs.aws import Statement
from troposphere import GetAtt, Ref, Template
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from generator import naming
from generator.approval_policy import ApprovalPolicyRefs
from generator.encryption import EncryptionRefs
from generator.iam import Grant, deny_insecure_transport, policy_document
from generator.parameters import HAS_NOTIFICATION_EMAIL, HubParameters
from handlers.contract import environment
from handlers.contract.environment import Variable


@dataclass(frozen=True)
class TopicRefs:
    topic: Topic
    encryption: EncryptionRefs

    @property
    def arn(self) -> Ref:
        return Ref(self.topic)

    def encrypt_grant(self) -> Grant:
        """Publishing to a topic under the hub key needs the key, through SNS."""
        return self.encryption.grant_through("sns", "EncryptNotifications", (kms.Decrypt, kms.GenerateDataKey))


@dataclass(frozen=True)
class MessagingRefs:
    notifications: TopicRefs
    approvals: TopicRefs

    def grant_notify(self) -> tuple[Grant, ...]:
        """Publish run notifications."""
        return (
            Grant("PublishRunNotifications", (sns.Publish,), (self.notifications.arn,)),
            self.notifications.encrypt_grant(),
        )

    def grant_ask_approvers(self) -> tuple[Grant, ...]:
        """Publish approval requests, after reading who is subscribed (each subscription's filter)."""
        return (
            Grant("PublishApprovalRequests", (sns.ListSubscriptionsByTopic, sns.Publish), (self.approvals.arn,)),
            # GetSubscriptionAttributes has no resource-level permissions.
            Grant("ReadApprovalSubscriptions", (sns.GetSubscriptionAttributes,), ("*",)),
            self.approvals.encrypt_grant(),
        )

    def settings(self) -> Mapping[Variable, Any]:
        return {
            environment.NOTIFICATION_TOPIC_ARN: self.notifications.arn,
            environment.APPROVAL_TOPIC_ARN: self.approvals.arn,
        }


def add_messaging(
    template: Template, parameters: HubParameters, encryption: EncryptionRefs, policy: ApprovalPolicyRefs
) -> MessagingRefs:
    """Both topics, their policies, and the optional run-notification email subscription. Only the approval
    policy's administrators may subscribe to the approvals topic: a subscriber receives approval links."""
    notifications = _topic(template, "RunNotificationsTopic", "-runs", "Patch runs", encryption)
    approvals = _topic(
        template,
        "ApprovalRequestsTopic",
        "-approvals",
        "Patch approvals",
        encryption,
        also=lambda topic: [policy.administered_topic(Ref(topic))],
    )
    template.add_resource(
        SubscriptionResource(
            "RunNotificationsEmail",
            Condition=HAS_NOTIFICATION_EMAIL,
            TopicArn=Ref(notifications),
            Protocol="email",
            Endpoint=Ref(parameters.notification_email),
        )
    )
    return MessagingRefs(TopicRefs(notifications, encryption), TopicRefs(approvals, encryption))


def _topic(
    template: Template,
    name: str,
    suffix: str,
    display_name: str,
    encryption: EncryptionRefs,
    *,
    also: Callable[[Topic], list[Statement]] = lambda _topic: [],
) -> Topic:
    topic = template.add_resource(
        Topic(
            name,
            TopicName=naming.prefixed(suffix),
            DisplayName=display_name,
            # A customer-managed key: CloudWatch alarms cannot publish to topics under alias/aws/sns.
            KmsMasterKeyId=GetAtt(encryption.key, "Arn"),
        )
    )
    template.add_resource(
        TopicPolicy(
            f"{name}Policy",
            Topics=[Ref(topic)],
            PolicyDocument=policy_document(
                [deny_insecure_transport("DenyPublishWithoutTls", [sns.Publish], [Ref(topic)]), *also(topic)]
            ),
        )
    )
    return topic
