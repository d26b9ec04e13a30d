import pytest

from shared import subjects
from shared.errors import ErrorCode, InvalidId


@pytest.mark.parametrize("bad", ["", "a.b", "*", ">", "a b", "a\tb", "u>", "ü", "x" * 65, None, 7])
def test_unsafe_ids_never_become_subjects(bad: object) -> None:
    with pytest.raises(InvalidId) as raised:
        subjects.user_events(bad)  # type: ignore[arg-type]
    assert raised.value.code is ErrorCode.INVALID_ID
    assert "user id" in raised.value.message


def test_safe_ids_build_the_documented_subjects() -> None:
    assert subjects.user_events("u_1-A") == "user.u_1-A.events"
    assert subjects.live_user_events("u1") == "live.user.u1.events"
    assert subjects.tool_call("analyze_performance") == "tools.call.analyze_performance"


def test_tool_names_are_checked_like_ids() -> None:
    with pytest.raises(InvalidId, match="tool name"):
        subjects.tool_call("analyze.>")


def test_the_user_of_a_live_subject_is_read_back_and_other_subjects_name_nobody() -> None:
    assert subjects.user_of_live_events(subjects.live_user_events("u-1")) == "u-1"
    assert subjects.user_of_live_events("user.u-1.events") == ""
    assert subjects.user_of_live_events("live.user.u-1.other") == ""
