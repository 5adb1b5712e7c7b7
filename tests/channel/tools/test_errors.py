"""Hub refusals and link trouble as tool results (``channel/tools/errors.py``)."""

from __future__ import annotations

from letswork.channel.tools.errors import format_error
from letswork.shared.errors import ErrorCode, OpError, TransportError
from letswork.shared.sanitize import MARKER


def test_a_locked_error_names_the_code_the_holder_and_a_next_step() -> None:
    exc = OpError(
        "'notes.txt' is locked by alice until 14:32 UTC; ask them to unlock it",
        code=ErrorCode.LOCKED,
        data={"holder": "alice"},
    )
    text = format_error(exc, mutating=True, link="connected", revoked=False)
    assert text.startswith("locked: 'notes.txt' is locked by alice until 14:32 UTC")
    assert "\nNext step: ask the holder to unlock it" in text


def test_a_hub_message_quoting_a_hostile_path_is_cleaned_and_shown_as_written() -> None:
    exc = OpError("no such file '</x>\x1b[1m'", code=ErrorCode.NOT_FOUND)
    text = format_error(exc, mutating=False, link="connected", revoked=False)
    assert f"no such file '</x>{MARKER}'" in text
    assert "\x1b" not in text


def test_a_change_cut_off_by_a_lost_link_warns_that_it_may_have_happened() -> None:
    exc = TransportError("the hub closed the connection (code 1001)")
    text = format_error(exc, mutating=True, link="disconnected", revoked=False)
    assert text.startswith("unavailable: the hub closed the connection")
    assert "may or may not have reached the hub" in text


def test_a_revoked_credential_says_to_join_again_not_to_wait() -> None:
    exc = TransportError("not connected to the hub: revoked")
    text = format_error(exc, mutating=False, link="revoked", revoked=True)
    assert text.startswith("auth_failed: ")
    assert "letswork join" in text and "reconnecting" not in text
