"""The run table repository: every read and write a handler makes, as a named operation on typed records.

Reads are consistent. Writes go through ``Update`` and ``Put`` specs (handlers/records/updates.py), whose
placeholders are checked against the values bound to them. Every key starts with the item's partition
(``RUN#<runId>`` or ``APPROVAL#<id>``), which is what the functions' roles are limited to
(``dynamodb:LeadingKeys``); the approval page reads only ``APPROVAL_PAGE_ATTRIBUTES``, which is all its role may.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from handlers.contract import table
from handlers.contract.errors import RunAlreadyExists, TransientAwsError
from handlers.contract.table import (
    APPROVAL_PAGE_ATTRIBUTES,
    ApprovalStatus,
    Decision,
    RunStatus,
    Update,
    approval_pk,
    command_sk,
    instance_sk,
    rerun_sk,
    run_pk,
)
from handlers.domain.target import Target
from handlers.records import updates
from handlers.records.codec import from_item, to_item
from handlers.records.items import (
    ApprovalRecord,
    FinalState,
    InstanceRecord,
    LedgerEntry,
    PhaseResult,
    RerunSelection,
    RunRecord,
    TargetRecord,
    WaveApproval,
    WaveRecord,
)
from handlers.records.updates import Put

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutItemInputTypeDef, UpdateItemInputTypeDef

BATCH_SIZE = 25
MAX_ROUNDS = 8


@dataclass(frozen=True)
class RunContents:
    """Everything a run recorded, by kind (one query)."""

    meta: RunRecord | None
    waves: dict[int, WaveRecord]
    targets: list[TargetRecord]
    instances: list[InstanceRecord]


@dataclass(frozen=True)
class DecisionClaim:
    """Who decides an approval, how, from where and when (``now``: epoch seconds, for the expiry check)."""

    decision: str
    decided_by: str
    decided_at: str
    source_ip: str
    user_agent: str
    now: int


class RunTable:
    """The run table, for one function: ``RunTable(clients.dynamodb(), env.table_name)``."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._dynamodb = dynamodb
        self.table_name = table_name

    # Runs --------------------------------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """The run's META item, once per run id; raises ``RunAlreadyExists`` for a second execution."""
        if not self._put(run, updates.RUN_CREATED, {":execution": run["executionId"]}):
            raise RunAlreadyExists(f"run {run['pk']} has already been started")

    def get_run(self, run_id: str) -> RunRecord | None:
        return cast(RunRecord | None, self._get(run_pk(run_id), table.META))

    def read_run(self, run_id: str) -> RunContents:
        """Every item of the run, sorted into its kinds."""
        items = list(self.items(run_id))
        meta = next((item for item in items if item["sk"] == table.META), None)
        return RunContents(
            meta=cast(RunRecord | None, meta),
            waves={item["waveIndex"]: cast(WaveRecord, item) for item in items if _is(item, table.WAVE_PREFIX)},
            targets=[cast(TargetRecord, item) for item in items if _is(item, table.TARGET_PREFIX)],
            instances=[cast(InstanceRecord, item) for item in items if _is(item, table.INSTANCE_PREFIX)],
        )

    def set_final_state(
        self, run_id: str, *, status: RunStatus, outcome: int, reason: str, ended_at: str, report_prefix: str
    ) -> None:
        """How the run ended (Finalize)."""
        values = {":status": status, ":outcome": outcome, ":reason": reason, ":now": ended_at, ":prefix": report_prefix}
        self._update(run_pk(run_id), table.META, updates.RUN_FINISHED, values)

    def close_run_if_running(self, run_id: str, *, status: RunStatus, outcome: int, reason: str, ended_at: str) -> bool:
        """Close a run still RUNNING (its execution stopped before Finalize); False if it was closed already or
        never recorded."""
        values = {
            ":status": status,
            ":outcome": outcome,
            ":reason": reason,
            ":now": ended_at,
            ":running": RunStatus.RUNNING,
        }
        return self._update(run_pk(run_id), table.META, updates.RUN_CLOSED_ON_STOP, values) is not None

    # Waves -------------------------------------------------------------------------------------------------------

    def get_wave(self, run_id: str, wave_index: int) -> WaveRecord | None:
        return cast(WaveRecord | None, self._get(run_pk(run_id), table.wave_sk(wave_index)))

    def waves(self, run_id: str) -> list[WaveRecord]:
        return [cast(WaveRecord, item) for item in self.items(run_id, table.WAVE_PREFIX)]

    def record_wave(self, wave: WaveRecord) -> None:
        """A wave's evaluation (every evaluated attribute), leaving its approval in place."""
        keys = (table.PARTITION_KEY, table.SORT_KEY)
        values = {f":{name}": value for name, value in wave.items() if name not in keys}
        self._update(wave["pk"], wave["sk"], updates.WAVE_EVALUATED, values)

    def record_wave_approval(
        self, run_id: str, wave_index: int, *, name: str, approval: WaveApproval, expires_at: int
    ) -> None:
        """A wave's approval as requested (the wave item is created if it does not exist yet)."""
        values = {":approval": approval, ":waveIndex": wave_index, ":name": name, ":expiresAt": expires_at}
        self._update(run_pk(run_id), table.wave_sk(wave_index), updates.WAVE_APPROVAL_REQUESTED, values)

    # Targets -----------------------------------------------------------------------------------------------------

    def record_target(self, target: TargetRecord) -> None:
        """A closed target (written again, whole, if the target is recorded twice)."""
        self._dynamodb.put_item(TableName=self.table_name, Item=to_item(target))

    def targets(self, run_id: str) -> list[TargetRecord]:
        return [cast(TargetRecord, item) for item in self.items(run_id, table.TARGET_PREFIX)]

    def wave_targets(self, run_id: str, wave_index: int) -> list[TargetRecord]:
        return [cast(TargetRecord, item) for item in self.items(run_id, table.wave_targets_prefix(wave_index))]

    # Command ledger ----------------------------------------------------------------------------------------------

    def ledger_entry(self, target: Target, phase: str) -> LedgerEntry | None:
        return cast(LedgerEntry | None, self._get(run_pk(target.run_id), _ledger_sk(target, phase)))

    def ledger_entries(self, run_id: str) -> list[LedgerEntry]:
        return [cast(LedgerEntry, item) for item in self.items(run_id, table.COMMAND_PREFIX)]

    def reserve_ledger_entry(self, entry: LedgerEntry) -> LedgerEntry:
        """Reserve a ledger entry before sending; the entry that holds the reservation (``entry``, or the one
        another attempt reserved first)."""
        if self._put(entry, updates.LEDGER_RESERVED, {}):
            return entry
        existing = self._get(entry["pk"], entry["sk"])
        if existing is None:
            raise RuntimeError(f"ledger entry {entry['sk']} vanished after a refused reservation")
        return cast(LedgerEntry, existing)

    def take_over_ledger_entry(
        self, target: Target, phase: str, *, previous_holder: str, holder: str, lease_until: str
    ) -> bool:
        """Become the holder of an entry whose holder's lease ran out; False if another attempt took it first or
        a command was recorded meanwhile."""
        values = {":me": holder, ":until": lease_until, ":previous": previous_holder}
        key = (run_pk(target.run_id), _ledger_sk(target, phase))
        return self._update(*key, updates.LEDGER_TAKEN_OVER, values) is not None

    def complete_ledger_entry(
        self, target: Target, phase: str, *, command_id: str, sent_at: str, deadline: str
    ) -> None:
        """Record the command sent for an entry (again, harmlessly, when a retry reuses it)."""
        values = {":id": command_id, ":sent": table.LedgerStatus.SENT, ":now": sent_at, ":deadline": deadline}
        # Another command recorded for the entry would be a second send: the refusal is the error.
        key = (run_pk(target.run_id), _ledger_sk(target, phase))
        self._update(*key, updates.LEDGER_SENT, values, refused_is_error=True)

    def mark_cancelled(self, entry: LedgerEntry, *, at: str) -> None:
        """The entry's command was cancelled (CancelRun skips it from now on)."""
        self._update(entry["pk"], entry["sk"], updates.LEDGER_CANCELLED, {":now": at})

    # Instances ---------------------------------------------------------------------------------------------------

    def put_instances(self, instances: Iterable[InstanceRecord]) -> int:
        """Write instance items (batches of 25, unprocessed ones retried with backoff); how many were written."""
        return self._put_all(instances)

    def instances(self, run_id: str, account_id: str, region: str) -> list[InstanceRecord]:
        """The instances of one account and region of a run."""
        return [cast(InstanceRecord, item) for item in self.items(run_id, instance_sk(account_id, region))]

    def record_instance_result(
        self, target: Target, instance_id: str, phase: str, result: PhaseResult, *, expires_at: int
    ) -> None:
        """One instance's result of ``phase`` (its item is created if Discover did not see the instance)."""
        values = {
            ":result": result,
            ":wave": target.wave_index,
            ":account": target.account_id,
            ":region": target.region,
            ":instance": instance_id,
            ":expires": expires_at,
        }
        sort_key = instance_sk(target.account_id, target.region, instance_id)
        self._update(run_pk(target.run_id), sort_key, updates.INSTANCE_RESULT[phase], values)

    def record_snapshot_prefix(self, target: Target, instance_id: str, prefix: str) -> None:
        """Where an instance's snapshot is stored; it marks the snapshot as stored."""
        sort_key = instance_sk(target.account_id, target.region, instance_id)
        self._update(run_pk(target.run_id), sort_key, updates.INSTANCE_SNAPSHOT_STORED, {":prefix": prefix})

    def record_instance_final(self, instance: InstanceRecord, final: FinalState) -> None:
        self._update(instance["pk"], instance["sk"], updates.INSTANCE_FINAL, {":final": final})

    # Re-runs -----------------------------------------------------------------------------------------------------

    def record_rerun_selection(
        self, run_id: str, previous: str, selection: Mapping[tuple[str, str], list[str]], *, expires_at: int
    ) -> None:
        """Which instances a re-run patches, one item per account and region."""
        self._put_all(
            RerunSelection(
                pk=run_pk(run_id),
                sk=rerun_sk(account, region),
                rerunOf=previous,
                instanceIds=instance_ids,
                expiresAt=expires_at,
            )
            for (account, region), instance_ids in sorted(selection.items())
        )

    def rerun_instances(self, run_id: str, account_id: str, region: str) -> list[str]:
        """The instances a re-run patches in ``account_id``/``region`` (none if nothing failed there)."""
        item = self._get(run_pk(run_id), rerun_sk(account_id, region))
        return list(item["instanceIds"]) if item else []

    def run_instances(self, run_id: str) -> Iterator[InstanceRecord]:
        """Every instance of a run (for a re-run's selection)."""
        for item in self.items(run_id, table.INSTANCE_PREFIX):
            yield cast(InstanceRecord, item)

    # Approvals ---------------------------------------------------------------------------------------------------

    def put_approval(self, approval: ApprovalRecord) -> bool:
        """A new approval, or the same task's again while pending; False if it has been decided meanwhile."""
        values = {":digest": approval["tokenDigest"], ":pending": ApprovalStatus.PENDING}
        return self._put(approval, updates.APPROVAL_REQUESTED, values)

    def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        return cast(ApprovalRecord | None, self._get(approval_pk(approval_id), table.META))

    def approval_for_page(self, approval_id: str) -> ApprovalRecord | None:
        """The approval without its task token: only what the confirmation page shows (and its role may read)."""
        item = self._get(approval_pk(approval_id), table.META, attributes=APPROVAL_PAGE_ATTRIBUTES)
        return cast(ApprovalRecord | None, item)

    def record_vote(self, approval_id: str, vote: DecisionClaim) -> ApprovalRecord | None:
        """One approver's approval (who, when, from where), once per approver; the approval with every vote so far,
        or None if it is not pending, has expired, ``vote.decided_by`` is not one of its approvers or has voted."""
        values = {
            ":pending": ApprovalStatus.PENDING,
            ":now": vote.now,
            ":by": vote.decided_by,
            ":voter": {vote.decided_by},
            ":none": [],
            ":vote": [
                {"by": vote.decided_by, "at": vote.decided_at, "sourceIp": vote.source_ip, "userAgent": vote.user_agent}
            ],
        }
        voted = self._update(approval_pk(approval_id), table.META, updates.APPROVAL_VOTED, values, new=True)
        return cast(ApprovalRecord | None, voted)

    def approval_decision(self, approval_id: str) -> ApprovalRecord | None:
        """The approval's decision as the workflow reads it (``APPROVAL_DECISION_ATTRIBUTES``): never the token."""
        item = self._get(approval_pk(approval_id), table.META, attributes=table.APPROVAL_DECISION_ATTRIBUTES)
        return cast(ApprovalRecord | None, item)

    def claim_decision(self, approval_id: str, claim: DecisionClaim) -> ApprovalRecord | None:
        """PENDING -> DECIDED, once, recording who decided, from where and when; the approval as decided, or None
        if it was not pending, has expired, or ``claim.decided_by`` is not one of its approvers. An approval is
        claimed only by one of its voters once ``minimumApprovers`` have voted (``record_vote``); one rejection is
        enough."""
        spec = updates.APPROVAL_QUORUM_CLAIMED if claim.decision == Decision.APPROVED else updates.APPROVAL_CLAIMED
        values = {
            ":decided": ApprovalStatus.DECIDED,
            ":pending": ApprovalStatus.PENDING,
            ":decision": claim.decision,
            ":by": claim.decided_by,
            ":at": claim.decided_at,
            ":ip": claim.source_ip,
            ":agent": claim.user_agent,
            ":now": claim.now,
            ":false": False,
        }
        decided = self._update(approval_pk(approval_id), table.META, spec, values, new=True)
        return cast(ApprovalRecord | None, decided)

    def settle_approval(self, approval_id: str, status: ApprovalStatus, *, delivered: bool | None, reason: str) -> bool:
        """The decision's last state (``delivered`` None: unknown); the task token is dropped: its job is over.

        Only a delivery settles unconditionally; any other outcome only while the token is still there and the
        decision not yet confirmed. False if another attempt settled it first."""
        values: dict[str, object] = {":status": status, ":delivered": delivered, ":reason": reason}
        if delivered:
            spec = updates.APPROVAL_DELIVERED
        else:
            spec, values[":false"] = updates.APPROVAL_SETTLED, False
        return self._update(approval_pk(approval_id), table.META, spec, values) is not None

    def reopen_approval(self, approval: ApprovalRecord) -> bool:
        """Undo the claim ``approval`` records (nothing reached the workflow); False if it changed meanwhile."""
        values = {
            ":pending": ApprovalStatus.PENDING,
            ":decided": ApprovalStatus.DECIDED,
            ":false": False,
            ":at": approval["decidedAt"],
            ":by": approval["decidedBy"],
        }
        return self._update(approval["pk"], approval["sk"], updates.APPROVAL_REOPENED, values) is not None

    # Reading -----------------------------------------------------------------------------------------------------

    def items(self, run_id: str, sort_key_prefix: str = "") -> Iterator[dict[str, Any]]:
        """Every item of a run whose sort key starts with ``sort_key_prefix`` (all for ""), all pages."""
        values = {":pk": run_pk(run_id)}
        condition = "pk = :pk"
        if sort_key_prefix:
            # DynamoDB refuses an empty string in a key condition, so "everything" is the bare partition query.
            values[":prefix"] = sort_key_prefix
            condition += " AND begins_with(sk, :prefix)"
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_item(values),
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                yield from_item(item)

    # Execution ---------------------------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str, *, attributes: Sequence[str] = ()) -> dict[str, Any] | None:
        if attributes:
            names = {f"#a{index}": name for index, name in enumerate(attributes)}
            response = self._dynamodb.get_item(
                TableName=self.table_name,
                Key=_key(pk, sk),
                ConsistentRead=True,
                ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names,
            )
        else:
            response = self._dynamodb.get_item(TableName=self.table_name, Key=_key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def _update(
        self,
        pk: str,
        sk: str,
        spec: Update,
        values: Mapping[str, object],
        *,
        new: bool = False,
        refused_is_error: bool = False,
    ) -> dict[str, Any] | None:
        """Execute ``spec`` on the item at (``pk``, ``sk``) with ``values`` bound to its placeholders: the item as
        written (``new``) or ``{}``; None if its condition failed (raised instead with ``refused_is_error``)."""
        spec.check_bound(values)
        request: UpdateItemInputTypeDef = {
            "TableName": self.table_name,
            "Key": _key(pk, sk),
            "UpdateExpression": spec.expression,
        }
        if spec.condition:
            request["ConditionExpression"] = spec.condition
        if spec.names:
            request["ExpressionAttributeNames"] = dict(spec.names)
        if values:
            request["ExpressionAttributeValues"] = to_item(values)
        if new:
            request["ReturnValues"] = "ALL_NEW"
        try:
            response = self._dynamodb.update_item(**request)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            if refused_is_error:
                raise
            return None
        return from_item(response["Attributes"]) if new else {}

    def _put(self, item: Mapping[str, Any], spec: Put, values: Mapping[str, object]) -> bool:
        """Put ``item`` if ``spec``'s condition holds; False if it did not."""
        spec.check_bound(values)
        request: PutItemInputTypeDef = {
            "TableName": self.table_name,
            "Item": to_item(item),
            "ConditionExpression": spec.condition,
        }
        if spec.names:
            request["ExpressionAttributeNames"] = dict(spec.names)
        if values:
            request["ExpressionAttributeValues"] = to_item(values)
        try:
            self._dynamodb.put_item(**request)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _put_all(self, items: Iterable[Mapping[str, Any]]) -> int:
        pending: list[Any] = [{"PutRequest": {"Item": to_item(item)}} for item in items]
        written = len(pending)
        while pending:
            batch, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            for attempt in range(MAX_ROUNDS):
                response = self._dynamodb.batch_write_item(RequestItems={self.table_name: batch})
                batch = list(response.get("UnprocessedItems", {}).get(self.table_name, []))
                if not batch:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise TransientAwsError(f"{len(batch)} items still unprocessed after {MAX_ROUNDS} batch writes")
        return written


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {table.PARTITION_KEY: {"S": pk}, table.SORT_KEY: {"S": sk}}


def _is(item: Mapping[str, Any], prefix: str) -> bool:
    return str(item["sk"]).startswith(prefix)


def _ledger_sk(target: Target, phase: str) -> str:
    return command_sk(target.wave_index, target.account_id, target.region, phase)
