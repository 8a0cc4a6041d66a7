"""One instance's invocation as its record keeps it: status, response code, and why it did not succeed."""

from __future__ import annotations

from typing import Any

from handlers.domain import invocations


def test_a_failed_invocation_keeps_the_end_of_its_output_as_the_reason() -> None:
    invocation: Any = {
        "InstanceId": "i-1",
        "Status": "Failed",
        "StatusDetails": "Failed",
        "CommandPlugins": [
            {"Name": "PatchLinux", "Status": "Failed", "ResponseCode": 2, "Output": "x" * 600 + "no space"}
        ],
    }

    result = invocations.result(invocation, "cmd-1")

    assert (result["commandId"], result["status"], result["responseCode"]) == ("cmd-1", "Failed", 2)
    assert result["reason"].startswith("Failed: ")
    assert result["reason"].endswith("no space")
    assert len(result["reason"]) == len("Failed: ") + invocations.REASON_LENGTH


def test_a_skipped_plugin_neither_answers_nor_explains() -> None:
    invocation: Any = {
        "InstanceId": "i-1",
        "Status": "Success",
        "CommandPlugins": [
            {"Name": "WindowsSnapshot", "Status": "Skipped", "ResponseCode": 0, "Output": ""},
            {"Name": "LinuxSnapshot", "Status": "Success", "ResponseCode": 0, "Output": "pkgs"},
        ],
    }

    result = invocations.result(invocation, "cmd-1")

    assert (result["status"], result["responseCode"], result["reason"], result["statusDetails"]) == (
        "Success",
        0,
        "",
        "",
    )


def test_an_undelivered_invocation_has_no_response_code() -> None:
    invocation: Any = {"InstanceId": "i-1", "Status": "TimedOut", "StatusDetails": "DeliveryTimedOut"}

    result = invocations.result(invocation, "cmd-1")

    assert (result["responseCode"], result["reason"], result["statusDetails"]) == (
        -1,
        "DeliveryTimedOut",
        "DeliveryTimedOut",
    )
