"""The functions a patch run invokes (besides the approval request): checking, discovering, commanding, recording.

Functions that work in spokes get roles named by the fleet convention, which is what spoke trust policies admit,
and the grants to assume spoke roles; every function's table access is limited to run records. Each of them reads
the run record (``GetItem``) before acting: an invoke that does not belong to a running run does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.asl.tasks import FunctionTarget
from generator.asl.workflow import WorkflowFunctions
from generator.lambdas import FunctionSpec, LambdaRefs, Lambdas
from generator.messaging import MessagingRefs
from generator.spoke_access import SpokeAccessRefs
from generator.storage import StorageRefs
from handlers.contract import environment as env

VALIDATE_RUN = FunctionSpec(
    "ValidateRun", "validate_run", "Checks and normalises a run document; records the run once.",
    timeout=30, memory=256, concurrency="control", env=env.ValidateRunEnv,
)  # fmt: skip
DISCOVER = FunctionSpec(
    "Discover", "discover", "Finds a target's tagged instances and which SSM can reach.",
    timeout=120, memory=512, concurrency="fleet", env=env.DiscoverEnv,
)  # fmt: skip
SEND_COMMAND = FunctionSpec(
    "SendCommand", "send_command", "Sends one snapshot or patch command per target and phase (ledgered).",
    timeout=60, memory=256, concurrency="fleet", env=env.SendCommandEnv,
)  # fmt: skip
POLL_COMMAND = FunctionSpec(
    "PollCommand", "poll_command", "Polls a command; records every instance's result when it ends.",
    timeout=300, memory=512, concurrency="fleet", env=env.PollCommandEnv,
)  # fmt: skip
STORE_SNAPSHOTS = FunctionSpec(
    "StoreSnapshots", "store_snapshots", "Copies pre-patch snapshot output into the artifact bucket.",
    timeout=600, memory=512, concurrency="fleet", env=env.StoreSnapshotsEnv,
)  # fmt: skip
RECORD_TARGET = FunctionSpec(
    "RecordTarget", "record_target", "Closes a target: every instance gets a final state; 200/206/500.",
    timeout=300, memory=512, concurrency="record", env=env.RecordTargetEnv,
)  # fmt: skip
EVALUATE_WAVE = FunctionSpec(
    "EvaluateWave", "evaluate_wave", "Judges a wave against its failure budget; halts the run if exceeded.",
    timeout=60, memory=256, concurrency="control", env=env.EvaluateWaveEnv,
)  # fmt: skip
FINALIZE = FunctionSpec(
    "Finalize", "finalize", "Decides the run outcome, writes the report, notifies.",
    timeout=600, memory=1024, concurrency="control", env=env.FinalizeEnv,
)  # fmt: skip


@dataclass(frozen=True)
class RunFunctionRefs:
    validate_run: LambdaRefs
    discover: LambdaRefs
    send_command: LambdaRefs
    poll_command: LambdaRefs
    store_snapshots: LambdaRefs
    record_target: LambdaRefs
    evaluate_wave: LambdaRefs
    finalize: LambdaRefs

    def workflow(self, *, request_approval: FunctionTarget) -> WorkflowFunctions:
        """The functions as the workflow invokes them."""
        return WorkflowFunctions(
            validate_run=self.validate_run.target(),
            discover=self.discover.target(),
            send_command=self.send_command.target(),
            poll_command=self.poll_command.target(),
            store_snapshots=self.store_snapshots.target(),
            record_target=self.record_target.target(),
            evaluate_wave=self.evaluate_wave.target(),
            finalize=self.finalize.target(),
            request_approval=request_approval,
        )


def add_run_functions(
    lambdas: Lambdas, storage: StorageRefs, messaging: MessagingRefs, spoke_access: SpokeAccessRefs
) -> RunFunctionRefs:
    """The eight functions, each with exactly the access its handler needs."""
    table, artifacts = storage.run_table, storage.artifacts
    # Every fleet function's guard checks a gated wave's decision in its approval item (handlers.domain.guard).
    fleet = (*spoke_access.fleet_grants(), *table.grant_read_decisions())
    return RunFunctionRefs(
        # GetItem, Query and BatchWriteItem: a re-run reads the earlier run and records its selection.
        validate_run=lambdas.add(VALIDATE_RUN, grants=table.grant("BatchWriteItem", "GetItem", "PutItem", "Query")),
        discover=lambdas.add(
            DISCOVER,
            grants=(*fleet, *table.grant("BatchWriteItem", "GetItem")),
            role_name=spoke_access.fleet_role_name("discover"),
        ),
        send_command=lambdas.add(
            SEND_COMMAND,
            grants=(*fleet, *table.grant("GetItem", "PutItem", "Query", "UpdateItem")),
            role_name=spoke_access.fleet_role_name("send"),
        ),
        poll_command=lambdas.add(
            POLL_COMMAND,
            grants=(*fleet, *table.grant("GetItem", "UpdateItem")),
            role_name=spoke_access.fleet_role_name("poll"),
        ),
        store_snapshots=lambdas.add(
            STORE_SNAPSHOTS,
            grants=(*fleet, *table.grant("GetItem", "Query", "UpdateItem"), *artifacts.grant_write("runs/*/pre/*")),
            role_name=spoke_access.fleet_role_name("snapshots"),
        ),
        # In a spoke only to settle a failed target's patch command (record its results, cancel the rest).
        record_target=lambdas.add(
            RECORD_TARGET,
            grants=(*fleet, *table.grant("GetItem", "PutItem", "Query", "UpdateItem")),
            role_name=spoke_access.fleet_role_name("record"),
        ),
        evaluate_wave=lambdas.add(EVALUATE_WAVE, grants=table.grant("Query", "UpdateItem")),
        finalize=lambdas.add(
            FINALIZE,
            grants=(
                *table.grant("Query", "UpdateItem"),
                *artifacts.grant_write("runs/*/report/*"),
                *messaging.grant_notify(),
            ),
        ),
    )
