"""The approval page in a real browser: an approver opens the emailed link in headless Chromium and confirms.

The approval API runs on 127.0.0.1 (``tests.support.approval_server``) in front of the real handlers, inside a
rehearsal whose workflow is waiting for the decision. The link is the one RequestApproval emailed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rehearsal.hub import Rehearsal
from tests.support import approval_server, browser
from tests.workflow.test_approvals import APPROVER, deploy_fleet, gated_run


@pytest.fixture
def browsing(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context; on failure each tab's last screen is saved as ``test-output/<test>-<n>.png``."""
    with browser.chromium() as chromium:
        context = chromium.new_context()
        yield context
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            for number, tab in enumerate(context.pages):
                tab.screenshot(path=str(browser.output_dir() / f"{request.node.name}-{number}.png"), full_page=True)
        context.close()


def test_an_approver_confirms_in_the_browser_and_the_workflow_proceeds(
    hub: Rehearsal, browsing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_fleet(hub)
    with approval_server.serving(hub) as api_url:
        hub.set_setting("APPROVAL_API_URL", api_url)  # the emailed links point at this server
        execution = hub.start(gated_run(), "browser-run")
        email = next(e for e in hub.wait_for_approval_requests(2) if e["approver"] == APPROVER)
        link = next(line.split()[-1] for line in email["message"].splitlines() if line.startswith("Approve:"))
        assert link.startswith(api_url + "/approvals/")

        page, second_tab = browsing.new_page(), browsing.new_page()
        opened = page.goto(link)
        assert opened is not None
        assert opened.status == 200
        second_tab.goto(link)  # the same link, opened twice (or forwarded to a colleague) before deciding
        body = page.inner_text("body")
        assert "Approve wave fleet of patch run browser-run?" in body
        assert "222222222222 in eu-west-1, us-east-1" in body
        assert APPROVER in body
        page.screenshot(path=str(browser.output_dir() / "approval-page.png"), full_page=True)
        assert hub.item("browser-run", "WAVE#01")["approval"]["status"] == "PENDING"  # type: ignore[index]

        with page.expect_navigation():
            page.click("#confirm")
        assert "Wave fleet approved" in page.inner_text("body")
        page.screenshot(path=str(browser.output_dir() / "approval-decided.png"), full_page=True)
        result = hub.wait(execution)

        assert result["status"] == "SUCCEEDED", result.get("cause")
        approval = hub.item("browser-run", "WAVE#01")["approval"]  # type: ignore[index]
        assert (approval["status"], approval["decidedBy"], approval["sourceIp"]) == ("APPROVED", APPROVER, "127.0.0.1")
        assert "HeadlessChrome" in approval["userAgent"]

        # The button on the other tab, clicked after the decision: it stands, and the page says so.
        with second_tab.expect_navigation() as second:
            second_tab.click("#confirm")
        assert second.value.status == 409
        assert "This approval has already been decided" in second_tab.inner_text("body")
        assert f"approved by {APPROVER}" in second_tab.inner_text("body")
        # Back on the first tab, the page (never cached) no longer offers a button.
        page.go_back()
        assert "This approval has already been decided" in page.inner_text("body")
        assert page.query_selector("#confirm") is None
