"""Scanner suppressions: each one names the check and carries the reason a reviewer can verify.

docs/security.md lists every suppression in the templates (a test keeps the two in step).
"""

from __future__ import annotations

# Lambda functions that are only ever invoked synchronously (by Step Functions or API Gateway): a failure
# returns to the caller, whose Retry/Catch or error page handles it; a dead-letter queue would never receive.
SYNCHRONOUS_FUNCTION = (
    "CKV_AWS_116",
    "Invoked synchronously only (Step Functions, API Gateway): failures return to the caller's Retry/Catch.",
)
# The functions reach only AWS APIs; a VPC would add NAT or endpoints without narrowing what they can reach.
NO_VPC_RESOURCES = (
    "CKV_AWS_117",
    "Calls AWS APIs only (no VPC resources); its role, not a network, limits what it reaches.",
)


def checkov(*reasons: tuple[str, str]) -> dict[str, list[dict[str, str]]]:
    """The ``Metadata["checkov"]`` value that suppresses each (check id, reason)."""
    return {"skip": [{"id": check, "comment": comment} for check, comment in reasons]}
