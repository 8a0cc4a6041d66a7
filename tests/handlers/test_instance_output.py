"""Run Command output goes where the artifact bucket lets the instance's own account write, and nowhere else."""

from __future__ import annotations

import fnmatch

from rehearsal.hub import ARTIFACT_BUCKET_NAME, Rehearsal
from rehearsal.template import generated_template, resolve

ACCOUNT, OTHER_ACCOUNT = "222222222222", "333333333333"


def bucket_write_pattern(account: str) -> str:
    """The object ARN pattern the bucket policy lets instances of ``account`` write."""
    hub = generated_template("hub.json")
    policy = hub["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    document = resolve(
        policy,
        {"NamePrefix": "patch-orchestrator", "OrganizationId": "o-a1b2c3d4e5"},
        attributes={("ArtifactBucket", "Arn"): f"arn:aws:s3:::{ARTIFACT_BUCKET_NAME}", ("HubKey", "Arn"): "key"},
        conditions={"SharesInstanceOutput": True},
    )
    (write,) = [s for s in document["Statement"] if s["Sid"] == "OrganisationInstancesWriteOwnAccountOutput"]
    (pattern,) = write["Resource"]
    return str(pattern).replace("${aws:PrincipalAccount}", account)


def test_instances_write_output_under_their_own_accounts_prefix(hub: Rehearsal) -> None:
    hub.set_setting("INSTANCE_OUTPUT", "true")
    hub.fleet.add(ACCOUNT, "eu-west-1", 1)

    hub.invoke(
        "SendCommand",
        {
            "runId": "run-1",
            "waveIndex": 0,
            "accountId": ACCOUNT,
            "region": "eu-west-1",
            "phase": "patch",
            "settings": {
                "operation": "Install",
                "rebootOption": "NoReboot",
                "snapshotId": "4b95ca39-fcc6-525c-a327-2cd6b91fab87",
                "selector": {"tags": {"PatchGroup": ["web"]}},
                "patchTimeoutMinutes": 60,
            },
            "wave": {"index": 0, "maxConcurrency": "5", "maxErrors": "1"},
        },
    )

    (sent,) = hub.fleet.sent()
    assert sent.request["OutputS3BucketName"] == ARTIFACT_BUCKET_NAME
    # SSM writes <prefix>/<command id>/<instance id>/<plugin>/stdout.
    written = (
        f"arn:aws:s3:::{ARTIFACT_BUCKET_NAME}/{sent.request['OutputS3KeyPrefix']}/c-1/i-1/awsrunShellScript/stdout"
    )
    assert fnmatch.fnmatchcase(written, bucket_write_pattern(ACCOUNT))
    assert not fnmatch.fnmatchcase(written, bucket_write_pattern(OTHER_ACCOUNT))
