"""A re-run's document: the earlier run's, without its run id, re-running it."""

from __future__ import annotations

from handlers.domain import rerun


def test_a_rerun_document_repeats_the_earlier_one_and_names_it() -> None:
    earlier = {"runId": "first", "operation": "Install", "waves": [{"name": "all"}], "rerun": {"of": "older"}}

    document = rerun.rerun_document(earlier, "first")

    assert document == {"operation": "Install", "waves": [{"name": "all"}], "rerun": {"of": "first"}}
    assert earlier["runId"] == "first"  # the earlier document is left as it was
