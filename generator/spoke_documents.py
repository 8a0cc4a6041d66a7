"""The only Run Command documents the hub may send: the pre-patch snapshot and the patch wrapper.

IAM cannot constrain a document's parameters, so whoever may send AWS-RunPatchBaseline may also send its
``BaselineOverride`` (a baseline whose ``Sources`` adds a package repository: root on every Linux instance) or an
``InstallOverrideList``. The spoke therefore owns a wrapper whose parameters are enums and a UUID, and runs
AWS-RunPatchBaseline from it with ``aws:runDocument``: the SSM Agent on the instance fetches the inner document
with the instance's own credentials, so the sender needs ``ssm:SendCommand`` on the wrapper only.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from troposphere import Equals, If, Join, Not, Parameter, Ref, Split, Template
from troposphere.ssm import Document

from generator import naming
from handlers.contract import conventions

# What AWS-RunPatchBaseline's own parameters accept, narrowed to what a run may choose (the handlers send these).
OPERATIONS = conventions.PATCH_OPERATIONS
REBOOT_OPTIONS = conventions.PATCH_REBOOT_OPTIONS
OPERATION = conventions.PATCH_OPERATION_PARAMETER
REBOOT_OPTION = conventions.PATCH_REBOOT_OPTION_PARAMETER
SNAPSHOT_ID = conventions.PATCH_SNAPSHOT_ID_PARAMETER
BASELINE_OVERRIDE = conventions.PATCH_BASELINE_OVERRIDE_PARAMETER
HAS_BASELINE_OVERRIDES = "HasBaselineOverrides"
# No override: AWS-RunPatchBaseline then uses the baseline of the instance's patch group (or the default).
NO_OVERRIDE = ""


def add_baseline_overrides_parameter(template: Template) -> Parameter:
    """The override files this spoke lets runs choose from (empty: runs use the patch-group baselines)."""
    parameter = template.add_parameter(
        Parameter(
            "PatchBaselineOverrides",
            Type="CommaDelimitedList",
            Default="",
            # AWS refuses override file names holding a backtick, quote, double quote or dollar sign.
            AllowedPattern=r"^$|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^`'\"$,]+\.json$",
            ConstraintDescription="s3://<bucket>/<key>.json URLs of baseline override files, or empty",
            Description=(
                "Optional baseline override files (s3://bucket/key.json) a run may choose; the hub can pick only "
                "these. Keep them in a bucket only this account's administrators can write: a baseline's Sources "
                "name the package repositories instances install from."
            ),
        )
    )
    template.add_condition(HAS_BASELINE_OVERRIDES, Not(Equals(Join("", Ref(parameter)), "")))
    return parameter


def add_snapshot_document(template: Template) -> Document:
    """The only script the hub may run besides patching: a fixed, read-only pre-patch snapshot."""
    scripts = resources.files("generator") / "documents"
    linux = (scripts / "pre_patch_snapshot.sh").read_text(encoding="utf-8").splitlines()
    windows = (scripts / "pre_patch_snapshot.ps1").read_text(encoding="utf-8").splitlines()
    return template.add_resource(
        Document(
            "SnapshotDocument",
            Name=naming.snapshot_document_name(),
            DocumentType="Command",
            DocumentFormat="JSON",
            UpdateMethod="NewVersion",
            Content={
                "schemaVersion": "2.2",
                "description": "Read-only pre-patch snapshot (packages, hotfixes, services, disk, reboot state).",
                "mainSteps": [
                    {
                        "action": "aws:runShellScript",
                        "name": "LinuxSnapshot",
                        "precondition": {"StringEquals": ["platformType", "Linux"]},
                        "inputs": {"timeoutSeconds": "300", "runCommand": linux},
                    },
                    {
                        "action": "aws:runPowerShellScript",
                        "name": "WindowsSnapshot",
                        "precondition": {"StringEquals": ["platformType", "Windows"]},
                        "inputs": {"timeoutSeconds": "300", "runCommand": windows},
                    },
                ],
            },
        )
    )


def add_patch_document(template: Template, baseline_overrides: Parameter) -> Document:
    """The spoke's patch wrapper: AWS-RunPatchBaseline with only an operation, a reboot option, the run's
    snapshot id and (when the spoke lists any) one of the spoke's baseline override files."""
    override_choices = Split(",", Join(",", [NO_OVERRIDE, Join(",", Ref(baseline_overrides))]))
    parameters: dict[str, Any] = {
        OPERATION: {
            "type": "String",
            "description": "Scan reports compliance only; Install installs the approved patches.",
            "allowedValues": list(OPERATIONS),
            "default": OPERATIONS[0],
        },
        REBOOT_OPTION: {
            "type": "String",
            "description": "Reboot after installing when a patch needs it, or never.",
            "allowedValues": list(REBOOT_OPTIONS),
            "default": REBOOT_OPTIONS[0],
        },
        SNAPSHOT_ID: {
            "type": "String",
            "description": "The run's patch baseline snapshot (a UUID): every instance of a run applies the same.",
            "allowedPattern": conventions.PATCH_SNAPSHOT_ID_PATTERN,
        },
        BASELINE_OVERRIDE: If(
            HAS_BASELINE_OVERRIDES,
            {
                "type": "String",
                "description": "One of this spoke's baseline override files, or empty for the patch-group baseline.",
                "allowedValues": override_choices,
                "default": NO_OVERRIDE,
            },
            Ref("AWS::NoValue"),
        ),
    }
    # Each of AWS-RunPatchBaseline's parameters is exactly the wrapper's parameter of the same name.
    inner: dict[str, Any] = {
        OPERATION: f"{{{{ {OPERATION} }}}}",
        REBOOT_OPTION: f"{{{{ {REBOOT_OPTION} }}}}",
        SNAPSHOT_ID: f"{{{{ {SNAPSHOT_ID} }}}}",
        BASELINE_OVERRIDE: If(HAS_BASELINE_OVERRIDES, f"{{{{ {BASELINE_OVERRIDE} }}}}", Ref("AWS::NoValue")),
    }
    return template.add_resource(
        Document(
            "PatchDocument",
            Name=naming.patch_document_name(),
            DocumentType="Command",
            DocumentFormat="JSON",
            UpdateMethod="NewVersion",
            Content={
                "schemaVersion": "2.2",
                "description": (
                    f"Runs {conventions.AWS_PATCH_DOCUMENT_NAME} with an operation, a reboot option, the run's "
                    "snapshot id and a baseline override this spoke lists: nothing a caller could turn into code."
                ),
                "parameters": parameters,
                "mainSteps": [
                    {
                        "action": "aws:runDocument",
                        "name": "RunPatchBaseline",
                        "inputs": {
                            "documentType": "SSMDocument",
                            "documentPath": conventions.AWS_PATCH_DOCUMENT_NAME,
                            "documentParameters": inner,
                        },
                    }
                ],
            },
        )
    )
