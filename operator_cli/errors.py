"""One line for every way an operator command can fail: no credentials, no region, no stack, AWS refusals."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

NO_REGION = "no region: pass --region, set AWS_REGION or a profile region, or give the stack's ARN as --stack"
NO_CREDENTIALS = "no AWS credentials: configure a profile (--profile, AWS_PROFILE) or environment variables"


class OperatorError(Exception):
    """A command that cannot go on; the message is one line saying why and, where there is one, what to do."""


def one_line(error: Exception) -> str:
    """What to print for ``error`` (never a traceback, never a credential)."""
    if isinstance(error, OperatorError):
        return str(error)
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, NoRegionError):
        return NO_REGION
    if isinstance(error, ProfileNotFound):
        return f"{error} (see ~/.aws/config)"
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{error.operation_name}: {detail.get('Code')}: {detail.get('Message')}"
    if isinstance(error, BotoCoreError):
        return str(error)
    raise TypeError(f"not an operator error: {error!r}")


HANDLED = (OperatorError, BotoCoreError, ClientError)
