"""What approvers see: the approval email, the confirmation page (GET) and the result pages (POST).

Every value from a run document is HTML-escaped. Pages are served with a strict Content-Security-Policy (no
scripts at all, the one inline stylesheet pinned by its hash, forms may only post back to this API), no
caching, no framing and no Referer, so a link's signature never travels further than the page it opened.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.approval_web.links import APPROVE, LinkClaims
from handlers.contract.table import Decision

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;"
    "vertical-align:top}th{background:#f4f4f4}button{font-size:1.1rem;padding:.6rem 1.4rem;border:0;border-radius:4px;"
    "color:#fff;cursor:pointer}.approve{background:#1d7a35}.reject{background:#b3261e}.note{color:#555}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
CONTENT_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    body: str

    def render(self) -> str:
        e = html.escape
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{e(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{e(self.title)}</h1>{self.body}</body></html>\n"
        )


def when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def confirmation_page(approval: Mapping[str, Any], claims: LinkClaims, signature: str, *, resend: bool = False) -> Page:
    """The page an emailed link opens. It changes nothing: only its button (a POST) records the decision.

    ``resend``: the decision is recorded but the workflow has not confirmed it; the button sends it again."""
    e = html.escape
    verb = "Approve" if claims.action == APPROVE else "Reject"
    title = f"{verb} wave {approval['waveName']} of patch run {approval['runId']}?"
    button = f"{verb} wave {approval['waveName']}"
    consequence = (
        "The wave's targets will be patched as soon as you confirm."
        if claims.action == APPROVE
        else "The run will stop before this wave; no later wave will run."
    )
    if resend:
        title = f"Send your decision on wave {approval['waveName']} of patch run {approval['runId']} again?"
        button = f"Send again: {verb.lower()} wave {approval['waveName']}"
        consequence = (
            "Your decision is recorded, but the workflow has not confirmed it. Sending it again cannot record it twice."
        )
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{e(str(value))}'>"
        for name, value in (
            ("action", claims.action),
            ("expires", claims.expires),
            ("recipient", claims.recipient),
            ("sig", signature),
        )
    )
    return Page(
        200,
        title,
        _plan_html(approval)
        + _quorum_html(approval)
        + f"<p>This link was sent to <strong>{e(claims.recipient)}</strong>; the decision is recorded as theirs. "
        f"The link expires {e(when(claims.expires))}.</p><p>{e(consequence)}</p>"
        # A relative action: the page and the decision share the stage path, whatever the API's domain.
        f"<form method='post' action='./{e(claims.approval_id)}'>{hidden}"
        f"<button type='submit' class='{e(claims.action)}' id='confirm'>{e(button)}</button></form>"
        "<p class='note'>Opening this page recorded nothing. Close it to decide later.</p>",
    )


def decided_page(decision: Mapping[str, Any], *, just_now: bool) -> Page:
    """After the POST that decided (200), or for any later visit (409)."""
    e = html.escape
    if not just_now and "delivered" in decision and decision["delivered"] is None:
        return NO_LONGER_WAITING
    word = "approved" if decision["decision"] == Decision.APPROVED else "rejected"
    if just_now:
        follow = (
            "The workflow has been told; the wave is starting."
            if word == "approved"
            else "The workflow has been told; the run stops before this wave."
        )
        return Page(
            200,
            f"Wave {decision['waveName']} {word}",
            f"<p>Recorded: {e(word)} by <strong>{e(decision['decidedBy'])}</strong> at "
            f"{e(decision['decidedAt'])}.</p><p>{e(follow)}</p>",
        )
    return Page(
        409,
        "This approval has already been decided",
        f"<p>Wave <strong>{e(decision['waveName'])}</strong> of run <strong>{e(decision['runId'])}</strong> was "
        f"{e(word)} by {e(decision['decidedBy'])} at {e(decision['decidedAt'])}. A decision is final; nothing was "
        "changed now.</p>",
    )


def _quorum_html(approval: Mapping[str, Any]) -> str:
    """Where a wave needs several approvers: how many, and who has approved so far."""
    needed = int(approval.get("minimumApprovers", 1))
    if needed <= 1:
        return ""
    approved = list(approval.get("approvedBy", []))
    so_far = f"Approved so far by {', '.join(approved)}." if approved else "Nobody has approved yet."
    return f"<p>This wave needs {needed} approvers to approve (one rejection stops it). {html.escape(so_far)}</p>"


def vote_page(approval: Mapping[str, Any], recipient: str, *, just_now: bool) -> Page:
    """An approval recorded that does not yet decide the wave: it needs ``minimumApprovers`` distinct approvers
    (200 when it was just recorded, 409 for a second visit)."""
    e = html.escape
    approved = list(approval.get("approvedBy", []))
    needed = int(approval.get("minimumApprovers", 1))
    others = [address for address in approval.get("approvers", []) if address not in approved]
    status = (
        f"<p>{len(approved)} of the {needed} approvals the wave needs: {e(', '.join(approved))}. The wave waits "
        f"until {needed - len(approved)} more of {e(', '.join(others))} approve (one rejection stops it) before "
        f"{e(when(int(approval['linkExpiresAt'])))}.</p>"
    )
    if just_now:
        return Page(
            200,
            f"Your approval of wave {approval['waveName']} is recorded",
            f"<p>Recorded: approved by <strong>{e(recipient)}</strong>.</p>{status}",
        )
    return Page(
        409,
        f"You have already approved wave {approval['waveName']}",
        f"<p>Your approval counts once; nothing was changed now.</p>{status}",
    )


def expired_page(*, undelivered: bool = False) -> Page:
    detail = (
        "The workflow had already stopped waiting for this decision, so it was not applied."
        if undelivered
        else "Approval links are valid until the wave's approval times out."
    )
    return Page(
        410,
        "This approval link has expired",
        f"<p>{html.escape(detail)} If the wave still needs patching, start a new run for it.</p>",
    )


INVALID_LINK = Page(
    403,
    "This approval link is not valid",
    "<p>The link was changed or was not issued by this hub. Use the link from the approval email, unchanged.</p>",
)
UNKNOWN_APPROVAL = Page(
    404,
    "No such approval",
    "<p>This approval does not exist (any more). Nothing was recorded.</p>",
)
BAD_REQUEST = Page(
    400,
    "This is not a complete approval link",
    "<p>Part of the link is missing or malformed. Use the link from the approval email, unchanged.</p>",
)
NOT_DELIVERED = Page(
    503,
    "The decision could not be delivered",
    "<p>Nothing was recorded and the wave is still waiting. Please try again in a minute.</p>",
)
DELIVERY_UNCONFIRMED = Page(
    503,
    "Your decision is recorded, but not yet confirmed",
    "<p>The workflow did not confirm that it received your decision. Open your link again in a minute and "
    "confirm once more: the decision will not be recorded twice, only sent again.</p>",
)
NO_LONGER_WAITING = Page(
    409,
    "The workflow is no longer waiting for this decision",
    "<p>Your decision is recorded. If an earlier confirmation reached the workflow, it acted on it; otherwise the "
    "approval timed out and the run stopped before this wave. The run's record shows which.</p>",
)
SERVER_ERROR = Page(
    500,
    "Something went wrong",
    "<p>Please open your link again in a minute: the page will show whether your decision was recorded.</p>",
)
NOT_FOUND = Page(404, "Not found", "<p>There is nothing here.</p>")


def email(approval: Mapping[str, Any], *, approve_url: str, reject_url: str) -> tuple[str, str]:
    """Subject and plain-text body of the approval request sent to one approver."""
    plan = approval["plan"]
    lines = [
        f"Patch run {approval['runId']} needs your approval before wave {plan['waveName']!r} "
        f"(wave {plan['waveIndex'] + 1}).",
        "",
        *_plan_text(plan),
        "",
        f"These links are for {approval['recipient']} and expire {when(approval['linkExpiresAt'])}.",
        "Each opens a confirmation page; nothing is decided until you press its button.",
        "",
        f"Approve: {approve_url}",
        "",
        f"Reject:  {reject_url}",
        "",
        "If nobody decides before the links expire, the run stops before this wave.",
    ]
    subject = f"Approve patch wave {plan['waveName']} of run {approval['runId']}?"
    return subject[:100], "\n".join(lines) + "\n"


def _plan_text(plan: Mapping[str, Any]) -> list[str]:
    lines = [
        f"Operation: {plan['operation']}, reboot option: {plan['rebootOption']}",
        f"Instances selected by tags: {_tags(plan['selector'])}",
        f"SSM rollout: MaxConcurrency {plan['maxConcurrency']}, MaxErrors {plan['maxErrors']}",
        f"Targets ({plan['targetCount']} account-region pairs):",
    ]
    lines += [f"  - {_group(group)}" for group in plan["targets"]]
    if plan["previousWaves"]:
        lines.append("Earlier waves of this run:")
        lines += [f"  - {_previous(wave)}" for wave in plan["previousWaves"]]
    return lines


def _plan_html(approval: Mapping[str, Any]) -> str:
    e = html.escape
    plan = approval["plan"]
    rows = [
        ("Run", approval["runId"]),
        ("Wave", f"{plan['waveName']} (wave {plan['waveIndex'] + 1})"),
        ("Operation", plan["operation"]),
        ("Reboot option", plan["rebootOption"]),
        ("Instances selected by tags", _tags(plan["selector"])),
        ("SSM rollout", f"MaxConcurrency {plan['maxConcurrency']}, MaxErrors {plan['maxErrors']}"),
        ("Targets", f"{plan['targetCount']} account-region pairs"),
    ]
    table = "".join(f"<tr><th>{e(name)}</th><td>{e(str(value))}</td></tr>" for name, value in rows)
    groups = "".join(f"<li>{e(_group(group))}</li>" for group in plan["targets"])
    previous = "".join(f"<li>{e(_previous(wave))}</li>" for wave in plan["previousWaves"])
    return f"<table>{table}</table><h2>Targets</h2><ul>{groups}</ul>" + (
        f"<h2>Earlier waves</h2><ul>{previous}</ul>" if previous else ""
    )


def _tags(selector: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={'|'.join(values)}" for name, values in sorted(selector.get("tags", {}).items()))


def _group(group: Mapping[str, Any]) -> str:
    more = f" and {group['moreAccounts']} more" if group.get("moreAccounts") else ""
    return f"accounts {', '.join(group['accounts'])}{more} in {', '.join(group['regions'])}"


def _previous(wave: Mapping[str, Any]) -> str:
    counts = wave.get("counts") or {}
    outcome = f" ({wave['outcome']})" if wave.get("outcome") is not None else ""
    tally = (
        f": {counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
        f"{counts.get('unreachable', 0)} unreachable of {counts.get('total', 0)}"
        if counts
        else ""
    )
    return f"{wave['name']}: {wave['status']}{outcome}{tally}"
