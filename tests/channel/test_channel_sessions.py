"""Stored sessions and how `letswork channel` picks its credential."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from letswork.channel import config, sessions
from letswork.shared import crypto, invite
from letswork.shared.errors import InviteCodeError, UsageError

URL = "ws://127.0.0.1:5000"


def _code(fill: int) -> tuple[str, bytes]:
    secret = bytes([fill]) * 16
    return invite.Invite(secret, URL).format(), secret


def test_a_session_round_trips_and_is_readable_only_by_the_user() -> None:
    record = sessions.SessionRecord(
        url=URL, invite_secret=b"\x01" * 16, resume_secret=b"\x02" * 32, name="alice", role="editor"
    )
    sessions.save_session("work", record)
    assert sessions.load_session("work") == record
    assert sessions.list_sessions() == ["work"]
    path = sessions.session_path("work")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "0202" * 4 in path.read_text()  # secrets are stored as hex


def test_updating_a_session_keeps_the_other_fields() -> None:
    sessions.save_session("s", sessions.SessionRecord(url=URL, invite_secret=b"\x01" * 16))
    sessions.update_session("s", resume_secret=b"\x03" * 32)
    record = sessions.load_session("s")
    assert record.resume_secret == b"\x03" * 32
    assert record.invite_secret == b"\x01" * 16
    assert record.url == URL


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "a b", "x" * 65])
def test_a_session_name_that_is_not_a_safe_file_name_is_refused(name: str) -> None:
    with pytest.raises(UsageError):
        sessions.session_path(name)


def test_a_missing_session_names_the_join_command() -> None:
    with pytest.raises(UsageError, match="letswork join CODE --session nope"):
        sessions.load_session("nope")


def test_a_damaged_session_file_is_reported_not_crashed_on() -> None:
    sessions.save_session("s", sessions.SessionRecord(url=URL, invite_secret=b"\x01" * 16))
    os.chmod(sessions.session_path("s"), 0o600)
    sessions.session_path("s").write_text('{"url": 3}')
    with pytest.raises(UsageError, match="damaged"):
        sessions.load_session("s")


def test_a_session_file_other_users_can_read_is_refused() -> None:
    sessions.save_session("s", sessions.SessionRecord(url=URL, invite_secret=b"\x01" * 16))
    os.chmod(sessions.session_path("s"), 0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        sessions.load_session("s")


def test_an_invite_from_the_environment_is_stored_as_a_session() -> None:
    code, secret = _code(7)
    cfg = config.resolve(name="alice", environ={config.INVITE_ENV: code})
    assert cfg.secret == secret
    assert cfg.invite_secret == secret
    assert cfg.url == invite.parse(code).url
    assert cfg.name == "alice"
    assert cfg.session == "invite-" + crypto.derive_invite_id(secret).hex()[:8]
    assert sessions.load_session(cfg.session).invite_secret == secret


def test_the_stored_resume_secret_is_preferred_over_the_same_invite() -> None:
    code, secret = _code(7)
    first = config.resolve(session="work", environ={config.INVITE_ENV: code})
    sessions.update_session("work", resume_secret=b"\x09" * 32, role="editor")
    again = config.resolve(session="work", environ={config.INVITE_ENV: code})
    assert first.secret == secret
    assert again.secret == b"\x09" * 32
    assert again.invite_secret == secret
    assert again.role == "editor"


def test_a_different_invite_for_the_same_session_starts_it_over() -> None:
    old, _ = _code(7)
    new, new_secret = _code(8)
    config.resolve(session="work", environ={config.INVITE_ENV: old})
    sessions.update_session("work", resume_secret=b"\x09" * 32, role="viewer")
    cfg = config.resolve(session="work", environ={config.INVITE_ENV: new})
    assert cfg.secret == new_secret
    assert cfg.role is None
    assert sessions.load_session("work").resume_secret is None


def test_a_stored_session_is_used_by_name_and_alone_without_a_name() -> None:
    sessions.save_session(
        "only", sessions.SessionRecord(url=URL, invite_secret=b"\x01" * 16, name="bob")
    )
    assert config.resolve(session="only", environ={}).name == "bob"
    assert config.resolve(environ={}).session == "only"


def test_without_an_invite_or_a_single_session_the_channel_says_what_to_do() -> None:
    with pytest.raises(UsageError, match="letswork join CODE"):
        config.resolve(environ={})
    for name in ("a", "b"):
        sessions.save_session(name, sessions.SessionRecord(url=URL, invite_secret=b"\x01" * 16))
    with pytest.raises(UsageError, match=r"several sessions are stored \(a, b\)"):
        config.resolve(environ={})


def test_a_mistyped_invite_in_the_environment_is_a_usage_error() -> None:
    with pytest.raises(InviteCodeError):
        config.resolve(environ={config.INVITE_ENV: "7KQ2-M9XD@nowhere.example"})


def test_host_mode_needs_a_hub_started_for_the_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="run `letswork start` in that folder"):
        config.resolve(host=True, project=tmp_path, environ={})


def test_host_mode_and_a_session_do_not_go_together(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--host and --session"):
        config.resolve(host=True, session="x", project=tmp_path, environ={})


@pytest.mark.parametrize("name", ["", "a" * 33, "<b>", "tab\there"])
def test_an_invalid_display_name_is_refused_before_connecting(name: str) -> None:
    code, _ = _code(7)
    with pytest.raises(UsageError, match="not a valid display name"):
        config.resolve(name=name, environ={config.INVITE_ENV: code})
