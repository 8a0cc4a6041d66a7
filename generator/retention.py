"""Retention policy for stateful resources: a stack delete or replacement must never destroy patch records."""

from __future__ import annotations

from troposphere import AWSObject

RETAIN = "Retain"


def retained(resource: AWSObject) -> AWSObject:
    """Mark ``resource`` DeletionPolicy/UpdateReplacePolicy Retain (tables, keys, buckets, log groups)."""
    resource.DeletionPolicy = RETAIN
    resource.UpdateReplacePolicy = RETAIN
    return resource
