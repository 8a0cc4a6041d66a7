"""parliament (Duo Labs' IAM linter) on every identity policy the templates create.

Intrinsics are resolved to values of the right shape first (parliament reads plain JSON): the prod parameter
files' values, plus sample values for the optional parameters those files leave empty, so conditional
statements are linted too. Known false positives are listed, with reasons, in docs/security.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parliament import analyze_policy_string

from rehearsal.template import generated_template
from tests.support.policies import ACCOUNT, PARTITION, REGION, concrete

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = {
    "ShareInstanceOutput": "true",
    "HubKeyArn": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0123abcd-0123-0123-0123-0123456789ab",
    "HubArtifactBucketName": f"patch-orchestrator-artifacts-{ACCOUNT}-{REGION}",
}
# The deploy-role stack has no parameter file (docs/deploying.md passes its parameters by hand): prod-like values.
DEPLOY_ROLE_VALUES = {
    "NamePrefix": "patch-orchestrator",
    "GitHubOrganization": "example-org",
    "GitHubRepository": "ec2-patch-orchestrator",
    "GitHubEnvironment": "prod",
    "HubStackName": "patch-orchestrator-hub",
    "SpokeStackSetName": "patch-orchestrator-spokes",
}
# (policy, issue, action): parliament's own database is wrong about these; docs/security.md says why.
KNOWN_FALSE_POSITIVES = {
    ("SpokeRole", "RESOURCE_MISMATCH", "ssm:SendCommand"),
    ("PatchRunStateMachineRole", "RESOURCE_MISMATCH", "states:DescribeExecution"),
    ("CloudFormationExecutionRole", "UNKNOWN_ACTION", "lambda:GetFunctionScalingConfig"),
    ("CloudFormationExecutionRole", "UNKNOWN_ACTION", "s3:GetBucketAbac"),
    ("DeployRole", "RESOURCE_MISMATCH", "cloudformation:CreateStackInstances"),
    ("CancelRunFunctionRole", "RESOURCE_MISMATCH", "states:DescribeExecution"),
}


def identity_policies(name: str) -> list[tuple[str, dict[str, Any]]]:
    template = generated_template(f"{name}.json")
    parameter_file = ROOT / "parameters" / f"{name}-prod.json"
    if parameter_file.exists():
        values = {entry["ParameterKey"]: entry["ParameterValue"] for entry in json.loads(parameter_file.read_text())}
    else:
        values = DEPLOY_ROLE_VALUES
    parameters = {**SAMPLES, **values}
    found = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents = [properties["PolicyDocument"]]
        else:
            continue
        found += [(logical_id, concrete(document, template, parameters)) for document in documents]
    return found


def test_parliament_finds_nothing_but_its_known_false_positives() -> None:
    policies = identity_policies("hub") + identity_policies("spoke") + identity_policies("deploy-role")
    # every function's role, the state machine's, the spoke role and instance policy, the deploy and execution roles
    assert len(policies) >= 16
    assert {"DeployRole", "CloudFormationExecutionRole"} <= {logical_id for logical_id, _ in policies}
    findings = set()
    for logical_id, document in policies:
        text = json.dumps(document)
        # Fully concrete, or parliament would quietly read nothing.
        assert "Fn::" not in text, logical_id
        assert "${" not in text, logical_id
        for finding in analyze_policy_string(text).findings:
            if isinstance(finding.detail, list):
                actions = [d.get("action", "") for d in finding.detail]
            else:  # "Unknown action <action>", or a message naming no action
                actions = [
                    str(finding.detail).removeprefix("Unknown action ") if finding.issue == "UNKNOWN_ACTION" else ""
                ]
            findings |= {(logical_id, finding.issue, action) for action in actions}
    # Equal, not a subset: a false positive that no longer occurs leaves the register (and this list).
    assert findings == KNOWN_FALSE_POSITIVES, sorted(findings ^ KNOWN_FALSE_POSITIVES)


def test_every_known_false_positive_is_explained_in_the_register() -> None:
    register = (ROOT / "docs" / "security.md").read_text()
    for policy, issue, action in KNOWN_FALSE_POSITIVES:
        assert f"| {policy} | {issue} | `{action}` |" in register
