"""Run Command output goes where the artifact bucket lets the instance's own account write, and nowhere else."""

from __future__ import annotations

import fnmatch

from rehearsal.hub import ARTIFACT_BUCKET_NAME, Rehearsal
from rehearsal.template import generated_template, resolve
from tests.handlers.targets import ACCOUNT, REGION, record_run, send

OTHER_ACCOUNT = "333333333333"


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
    record_run(hub)
    instance_id = hub.fleet.add(ACCOUNT, REGION, 1)[0]
    hub.set_setting("INSTANCE_OUTPUT", "true")

    send(hub)

    (sent,) = hub.fleet.sent()
    assert sent.request["OutputS3BucketName"] == ARTIFACT_BUCKET_NAME
    (written,) = hub.s3_keys(f"ssm/account-{ACCOUNT}/")
    assert written.endswith(f"/{instance_id}/PatchLinux/stdout")
    # What the bucket policy lets this account write, and not another organisation account.
    assert fnmatch.fnmatchcase(f"arn:aws:s3:::{ARTIFACT_BUCKET_NAME}/{written}", bucket_write_pattern(ACCOUNT))
    assert not fnmatch.fnmatchcase(
        f"arn:aws:s3:::{ARTIFACT_BUCKET_NAME}/{written}", bucket_write_pattern(OTHER_ACCOUNT)
    )
