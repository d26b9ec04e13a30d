"""How an AG-UI resume entry becomes agentwire's approve or deny."""

from __future__ import annotations

from typing import Any

import pytest

from services.ws_gateway.agui_runs import AguiRefused, _decision, _our_entry
from services.ws_gateway.agui_wire import ResumeEntry


def entry(payload: Any, status: Any = "resolved", interrupt_id: str = "run-1.ap-1") -> ResumeEntry:
    return ResumeEntry(interrupt_id=interrupt_id, status=status, payload=payload)


@pytest.mark.parametrize(
    ("payload", "decided"),
    [
        ({"approved": True}, (True, None)),
        ({"approved": False, "reason": "not now"}, (False, "not now")),
        (True, (True, None)),
        (False, (False, None)),
    ],
)
def test_a_resolved_interrupt_is_approved_or_denied_as_its_payload_says(
    payload: Any, decided: tuple[bool, str | None]
) -> None:
    assert _decision(entry(payload)) == decided


def test_an_abandoned_interrupt_is_a_denial_that_says_so() -> None:
    approved, reason = _decision(entry(None, status="cancelled"))
    assert not approved and reason is not None and "abandoned" in reason


@pytest.mark.parametrize("payload", [None, "yes", {"approve": True}, {"approved": "true"}])
def test_a_payload_that_is_not_a_decision_is_refused(payload: Any) -> None:
    with pytest.raises(AguiRefused) as refused:
        _decision(entry(payload))
    assert refused.value.status == 400


def test_only_our_interrupts_are_answered_others_are_skipped() -> None:
    ours = entry({"approved": True})
    theirs = entry({"approved": True}, interrupt_id="someone-elses")
    unsafe = entry({"approved": True}, interrupt_id="run.>")
    assert _our_entry([theirs, unsafe]) is None
    assert _our_entry([theirs, ours]) == ("run-1", "ap-1", ours)
