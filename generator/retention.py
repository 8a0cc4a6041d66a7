"""Retention policy for stateful resources: a stack delete or replacement must never destroy patch records."""

from __future__ import annotations

from typing import Any, TypeVar

from troposphere import AWSObject, Ref, Sub, Template
from troposphere.logs import LogGroup

RETAIN = "Retain"
Resource = TypeVar("Resource", bound=AWSObject)


def retained(resource: Resource) -> Resource:
    """Mark ``resource`` DeletionPolicy/UpdateReplacePolicy Retain (tables, keys, buckets, log groups)."""
    resource.DeletionPolicy = RETAIN
    resource.UpdateReplacePolicy = RETAIN
    return resource


def add_log_group(template: Template, title: str, name: Sub, *, retention_days: Ref, key_arn: Any) -> LogGroup:
    """A retained log group, encrypted with ``key_arn``, kept ``retention_days``: logs are evidence of a run."""
    return template.add_resource(
        retained(LogGroup(title, LogGroupName=name, RetentionInDays=retention_days, KmsKeyId=key_arn))
    )
