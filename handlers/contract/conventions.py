"""Names the hub, the spoke and the handlers must agree on.

The generator renders these into CloudFormation (with ``${NamePrefix}``/``${AWS::Region}`` references) and the
handlers format them with real values, so one edit here changes both sides together.
"""

from __future__ import annotations

DEFAULT_NAME_PREFIX = "patch-orchestrator"

# The tag an instance must carry before any spoke role may send it a command. IAM condition keys cannot be
# CloudFormation parameters (they are JSON object keys), so this is fixed at build time: change it here.
PATCH_TAG_KEY = "PatchGroup"

# IAM is global but SSM documents are regional: one spoke role per (account, region) keeps the region in
# every resource ARN the role can touch, and lets one StackSet deploy it to many regions of one account.
SPOKE_ROLE_NAME = "{prefix}-spoke-{region}"

# Hub roles that may assume spoke roles; spoke trust policies admit exactly this name pattern. The region is in
# the name because IAM is global: a second hub in another region of one account needs its own roles.
# Longest: 30 (prefix) + 7 + 9 (purpose) + 1 + 14 (region) = 61 of IAM's 64 characters.
HUB_FLEET_ROLE_NAME = "{prefix}-fleet-{purpose}-{region}"

# Hub roles of the approval functions. The approval signing key's policy names them, so only they can sign or
# verify approval links. Longest: 30 + 10 + 8 (purpose) + 1 + 14 = 63 characters.
HUB_APPROVAL_ROLE_NAME = "{prefix}-approval-{purpose}-{region}"

# A run's execution stops after this long (Step Functions' TimeoutSeconds). Approvals may wait at most half of it
# in total, so a run whose approvers take their full time still has a week to patch, record and report.
RUN_TIMEOUT_SECONDS = 14 * 24 * 3600
MAX_TOTAL_APPROVAL_MINUTES = RUN_TIMEOUT_SECONDS // 60 // 2

# How a run's execution can end early: the states whose status-change events make the hub cancel its commands.
STOPPED_EXECUTION_STATUSES = ("ABORTED", "FAILED", "TIMED_OUT")

# The command document the spoke owns for pre-patch snapshots (fixed content; no arbitrary shell).
SNAPSHOT_DOCUMENT_NAME = "{prefix}-PrePatchSnapshot"

# AWS's patching document. Only the spoke's own wrapper runs it: IAM cannot limit a document's parameters, and
# AWS-RunPatchBaseline's BaselineOverride or InstallOverrideList would let whoever may send it run anything as root.
AWS_PATCH_DOCUMENT_NAME = "AWS-RunPatchBaseline"
# The spoke's patch document: a wrapper around AWS-RunPatchBaseline whose parameters are enums and a UUID (and a
# baseline override chosen from a list the spoke owns). The only patching document the hub may send.
PATCH_WRAPPER_DOCUMENT_NAME = "{prefix}-RunPatchBaseline"
# The wrapper's parameters (the spoke declares each with its allowed values; SSM refuses any other value, and any
# parameter the document does not declare). The hub sends the first three; the baseline override is optional and
# names one of the spoke's own override files (empty: the patch group's baseline), never a baseline's content.
PATCH_OPERATION_PARAMETER = "Operation"
PATCH_OPERATIONS = ("Scan", "Install")
PATCH_REBOOT_OPTION_PARAMETER = "RebootOption"
PATCH_REBOOT_OPTIONS = ("RebootIfNeeded", "NoReboot")
PATCH_SNAPSHOT_ID_PARAMETER = "SnapshotId"  # a UUID: every instance of a run shares one baseline snapshot
PATCH_SNAPSHOT_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PATCH_BASELINE_OVERRIDE_PARAMETER = "BaselineOverride"

# The hub's fleet roles (HUB_FLEET_ROLE_NAME purposes): spoke roles trust exactly these.
FLEET_PURPOSES = ("cancel", "discover", "poll", "record", "send", "snapshots")

# Where instances write Run Command output in the hub's bucket: the writer's account first, so no wildcard in a
# policy can reach into another account's prefix.
INSTANCE_OUTPUT_PREFIX = "ssm/account-{account}/runs/{run}/region-{region}/{phase}"

# The two commands a target runs, in this order: the read-only snapshot (optional), then the patch. The workflow
# passes the phase to SendCommand; the ledger and the instance records are keyed by it.
SNAPSHOT = "snapshot"
PATCH = "patch"
PHASES = (SNAPSHOT, PATCH)


def spoke_role_arn(*, partition: str, account_id: str, region: str, prefix: str = DEFAULT_NAME_PREFIX) -> str:
    """The ARN of the spoke role the hub assumes to work in ``account_id``/``region``."""
    name = SPOKE_ROLE_NAME.format(prefix=prefix, region=region)
    return f"arn:{partition}:iam::{account_id}:role/{name}"


def patch_document_name(prefix: str = DEFAULT_NAME_PREFIX) -> str:
    """The spoke's patch wrapper document name."""
    return PATCH_WRAPPER_DOCUMENT_NAME.format(prefix=prefix)


def snapshot_document_name(prefix: str = DEFAULT_NAME_PREFIX) -> str:
    """The spoke's pre-patch snapshot document name."""
    return SNAPSHOT_DOCUMENT_NAME.format(prefix=prefix)


# The handlers' EMF metrics (Powertools) go to this namespace with the dimension service=<SERVICE>; the hub's
# alarms and dashboard read them there.
METRICS_NAMESPACE = "PatchOrchestrator"
SERVICE = "patch-orchestrator"
