"""Notifications: run outcomes and approval requests, each an SNS topic under the hub key, TLS-only publish.

Approval requests go to their own topic: one message per approver, with message attribute ``approver``, so each
approver's email subscription (filter policy ``{"approver": ["<address>"]}``) receives only their own links.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Action, Bool, Condition, Deny, Principal, Statement
from troposphere import GetAtt, Ref, Template
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from generator import naming
from generator.encryption import EncryptionRefs
from generator.iam import policy_document
from generator.parameters import HAS_NOTIFICATION_EMAIL, HubParameters


@dataclass(frozen=True)
class MessagingRefs:
    notifications: Topic
    approvals: Topic

    @property
    def topic_arn(self) -> Ref:
        return Ref(self.notifications)

    @property
    def approval_topic_arn(self) -> Ref:
        return Ref(self.approvals)


def add_messaging(template: Template, parameters: HubParameters, encryption: EncryptionRefs) -> MessagingRefs:
    """Both topics, their policies, and the optional run-notification email subscription."""
    notifications = _topic(template, "RunNotificationsTopic", "-runs", "Patch runs", encryption)
    approvals = _topic(template, "ApprovalRequestsTopic", "-approvals", "Patch approvals", encryption)
    template.add_resource(
        SubscriptionResource(
            "RunNotificationsEmail",
            Condition=HAS_NOTIFICATION_EMAIL,
            TopicArn=Ref(notifications),
            Protocol="email",
            Endpoint=Ref(parameters.notification_email),
        )
    )
    return MessagingRefs(notifications, approvals)


def _topic(template: Template, name: str, suffix: str, display_name: str, encryption: EncryptionRefs) -> Topic:
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
                [
                    Statement(
                        Sid="DenyPublishWithoutTls",
                        Effect=Deny,
                        Principal=Principal("*"),
                        Action=[Action("sns", "Publish")],
                        Resource=[Ref(topic)],
                        Condition=Condition(Bool("aws:SecureTransport", "false")),
                    )
                ]
            ),
        )
    )
    return topic
