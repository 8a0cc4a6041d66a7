"""Run notifications: an SNS topic encrypted with the hub key, publish over TLS only, optional email."""

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

    @property
    def topic_arn(self) -> Ref:
        return Ref(self.notifications)


def add_messaging(template: Template, parameters: HubParameters, encryption: EncryptionRefs) -> MessagingRefs:
    """The notification topic (run outcomes), its policy and the optional email subscription."""
    topic = template.add_resource(
        Topic(
            "RunNotificationsTopic",
            TopicName=naming.prefixed("-runs"),
            DisplayName="Patch runs",
            # A customer-managed key: CloudWatch alarms cannot publish to topics under alias/aws/sns.
            KmsMasterKeyId=GetAtt(encryption.key, "Arn"),
        )
    )
    template.add_resource(
        TopicPolicy(
            "RunNotificationsTopicPolicy",
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
    template.add_resource(
        SubscriptionResource(
            "RunNotificationsEmail",
            Condition=HAS_NOTIFICATION_EMAIL,
            TopicArn=Ref(topic),
            Protocol="email",
            Endpoint=Ref(parameters.notification_email),
        )
    )
    return MessagingRefs(topic)
