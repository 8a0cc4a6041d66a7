"""Retention policy for stateful resources: a stack delete or replacement must never destroy patch records.

``RetainExceptOnCreate``: a first create that fails and rolls back deletes what it made, so a retry does not
collide with named resources left behind (a table, a secret, log groups). Once created, they are retained on
delete like ``Retain``; replacement keeps the old one (UpdateReplacePolicy accepts only Retain for this).
"""

from __future__ import annotations

from typing import Any, TypeVar

from troposphere import AWSObject, Ref, Sub, Template
from troposphere.logs import LogGroup

RETAIN = "Retain"
RETAIN_EXCEPT_ON_CREATE = "RetainExceptOnCreate"
Resource = TypeVar("Resource", bound=AWSObject)


def retained(resource: Resource) -> Resource:
    """Keep ``resource`` (tables, keys, buckets, log groups) when the stack is deleted or replaces it."""
    resource.DeletionPolicy = RETAIN_EXCEPT_ON_CREATE
    resource.UpdateReplacePolicy = RETAIN
    return resource


def add_log_group(template: Template, title: str, name: Sub, *, retention_days: Ref, key_arn: Any) -> LogGroup:
    """A retained log group, encrypted with ``key_arn``, kept ``retention_days``: logs are evidence of a run."""
    return template.add_resource(
        retained(LogGroup(title, LogGroupName=name, RetentionInDays=retention_days, KmsKeyId=key_arn))
    )
