"""Invites, identities, admission and removal as the host and guests meet them through the
real CLI (issue 16): ``invite --uses/--expires``, ``revoke`` by prefix, ``kick``/``trust`` of
offline guests, and ``join`` storing a session only once the hub said yes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from letswork.cli import admin, main
from letswork.shared.errors import ErrorCode, OpError
from tests.cli.test_join import letswork
from tests.support.hubs import make_project
from tests.support.processes import hub_process, spawn


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def host(project: Path, *args: str) -> tuple[int, str, str]:
    out = letswork(*args, "--project", str(project))
    return out.returncode, out.stdout, out.stderr


def new_invite(project: Path, *args: str) -> str:
    code, out, err = host(project, "invite", *args)
    assert code == 0, err
    return out.strip().removeprefix("letswork join ")


def join(code: str, name: str, session: str) -> tuple[int, str]:
    out = letswork("join", code, "--name", name, "--session", session, "--print-config")
    return out.returncode, out.stderr


def invites(project: Path) -> list[dict[str, object]]:
    code, out, err = host(project, "invites", "--json")
    assert code == 0, err
    listed: list[dict[str, object]] = json.loads(out)
    return listed


def test_an_invite_for_two_admits_two_people_and_refuses_the_third(project: Path) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project, "--uses", "2")
        alice = join(code, "alice", "a")
        bob = join(code, "bob", "b")
        carol = join(code, "carol", "c")
        alice_again = join(code, "alice", "a")  # her stored session, the invite used up
        listed = invites(project)
    assert alice[0] == 0 and bob[0] == 0, alice[1] + bob[1]
    assert carol[0] == 1
    assert "was for 2 people and has been used" in carol[1]
    assert "invite accepted" not in carol[1]
    assert alice_again[0] == 0, alice_again[1]
    assert [(i["uses"], i["max_uses"], i["live"]) for i in listed if i["label"] is None] == [
        (2, 2, False)
    ]


def test_invite_defaults_to_one_use_and_refuses_a_bad_duration(project: Path) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project)
        first = join(code, "alice", "a")
        second = join(code, "bob", "b")
        bad = host(project, "invite", "--expires", "3x")
        zero = host(project, "invite", "--expires", "0m")
        week = host(project, "invite", "--expires", "7d")
    assert first[0] == 0 and second[0] == 1
    assert bad[0] == 2 and "'3x' is not a duration" in bad[2] and "30m, 2h or 7d" in bad[2]
    assert zero[0] == 2 and "more than zero" in zero[2]
    assert week[0] == 0 and "until " in week[2]


def test_revoke_takes_any_unique_id_prefix_and_lists_the_candidates_of_an_ambiguous_one(
    project: Path,
) -> None:
    with hub_process(project):
        # 17 invites: at least two share their first hex digit.
        for _ in range(16):
            new_invite(project)
        ids = [str(i["invite_id"]) for i in invites(project)]
        firsts = [i[0] for i in ids]
        shared = next(c for c in firsts if firsts.count(c) > 1)
        unique = ids[0]
        prefix = next(
            unique[:n] for n in range(4, 12) if sum(i.startswith(unique[:n]) for i in ids) == 1
        )
        ambiguous = host(project, "revoke", shared)
        revoked = host(project, "revoke", prefix)
        listed = {str(i["invite_id"]): i["revoked"] for i in invites(project)}
    assert ambiguous[0] == 1
    assert "invites match" in ambiguous[2] and "give more of the id" in ambiguous[2]
    for i in ids:
        if i.startswith(shared):
            assert i[:12] in ambiguous[2]
    assert revoked[0] == 0, revoked[2]
    assert listed[unique] is True
    assert sum(listed.values()) == 1


def test_a_restart_after_revoking_first_adds_first_2_and_revoke_first_stays_unambiguous(
    project: Path,
) -> None:
    with hub_process(project) as hp:
        assert host(project, "revoke", "first")[0] == 0
        assert hp.terminate() == 0
    with hub_process(project) as hp:
        labels = [i["label"] for i in invites(project)]
        again = host(project, "revoke", "first")
        assert hp.terminate() == 0
    with hub_process(project):
        labels_after = [i["label"] for i in invites(project)]
    assert labels == ["first", "first-2"]
    assert again[0] == 0 and "already revoked" in again[1]
    assert labels_after == ["first", "first-2"]


def test_kick_trust_and_untrust_work_on_an_offline_guest_and_kick_keeps_her_out(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit") as hp:
        code = new_invite(project, "--uses", "3")
        assert join(code, "alice", "a")[0] == 0  # join returns: alice is offline now
        trusted = host(project, "trust", "alice")
        untrusted = host(project, "untrust", "alice")
        kicked = host(project, "kick", "alice", "--reason", "done here")
        back = join(code, "alice", "a")  # her session is dead; the invite has uses left
        renamed = spawn(["join", code, "--name", "alice2", "--session", "a2", "--print-config"])
        try:
            # the invite no longer auto-admits: the host decides
            assert renamed.wait_stderr("waiting for the host", timeout=30), "".join(
                renamed.stderr_lines
            )
        finally:
            renamed.close()
        assert hp.proc.poll() is None
    assert trusted[0] == 0 and "trust: alice" in trusted[1], trusted[2]
    assert untrusted[0] == 0, untrusted[2]
    assert kicked[0] == 0 and "kicked: alice" in kicked[1], kicked[2]
    assert back[0] == 1
    assert "the host removed 'alice' from this session" in back[1]


def test_kicking_the_guest_of_a_one_use_invite_revokes_it(project: Path) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project, "--label", "for-alice")
        assert join(code, "alice", "a")[0] == 0
        assert host(project, "kick", "alice")[0] == 0
        state = {i["label"]: i["revoked"] for i in invites(project)}
        back = join(code, "alicia", "a")
    assert state["for-alice"] is True
    assert back[0] == 1


def test_a_revoked_code_does_not_overwrite_a_good_stored_session(
    project: Path, state_dir: Path
) -> None:
    with hub_process(project, "--auto-admit"):
        good = new_invite(project, "--label", "good")
        assert join(good, "alice", "work")[0] == 0
        stored = (state_dir / "sessions" / "work.json").read_text()
        bad = new_invite(project, "--label", "bad")
        assert host(project, "revoke", "bad")[0] == 0
        refused = join(bad, "alice", "work")
        after = (state_dir / "sessions" / "work.json").read_text()
        again = join(good, "alice", "work")
    assert refused[0] == 1
    assert "invite accepted" not in refused[1]
    assert after == stored
    assert again[0] == 0, again[1]


def test_a_denied_join_ends_at_once_with_exit_1_and_the_hosts_reason(project: Path) -> None:
    with hub_process(project) as hp:
        joiner = spawn(["join", hp.code, "--name", "mallory", "--print-config"])
        try:
            assert joiner.wait_stderr("waiting for the host", timeout=30), "".join(
                joiner.stderr_lines
            )
            denied = host(project, "deny", "mallory", "--reason", "not today, sorry")
            assert denied[0] == 0, denied[2]
            assert joiner.proc.wait(timeout=30) == 1
        finally:
            joiner.close()
    said = "".join(joiner.stderr_lines)
    assert "the host refused to admit you (not today, sorry)" in said
    assert "invite accepted" not in said


def test_a_waiting_join_ends_when_another_guest_takes_the_invites_last_use(
    project: Path,
) -> None:
    with hub_process(project):
        code = new_invite(project)
        first = spawn(["join", code, "--name", "first", "--session", "f", "--print-config"])
        second = spawn(["join", code, "--name", "second", "--session", "s", "--print-config"])
        try:
            for joiner in (first, second):
                assert joiner.wait_stderr("waiting for the host", timeout=30), "".join(
                    joiner.stderr_lines
                )
            assert host(project, "admit", "first")[0] == 0
            assert first.proc.wait(timeout=30) == 0
            assert second.proc.wait(timeout=30) == 1
        finally:
            first.close()
            second.close()
    said = "".join(second.stderr_lines)
    assert "you were not admitted: this invite was for 1 person and has been used" in said
    assert "invite accepted" not in said


def test_status_lists_the_known_guests_who_are_offline(project: Path) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project)
        assert join(code, "alice", "a")[0] == 0  # join returns: alice is offline now
        status = host(project, "status")
        as_json = host(project, "status", "--json")
    assert status[0] == 0, status[2]
    assert "offline:\n  alice            editor  offline since " in status[1]
    assert [p["name"] for p in json.loads(as_json[1])["offline"]] == ["alice"]


def test_invite_against_a_hub_started_by_an_older_letswork_says_to_restart_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a hub of main (e9584dc), still running after an upgrade, answers to `uses`
    # (seen for real: "letswork: args.uses: unknown field").
    async def older_hub(*_args: object, **_kw: object) -> dict[str, object]:
        raise OpError(
            "args.uses: unknown field",
            code=ErrorCode.INVALID,
            data={"reason": "extra_field", "field": "args.uses"},
        )

    monkeypatch.setattr(admin, "host_call", older_hub)
    out = CliRunner().invoke(main, ["invite", "--project", str(project)])
    assert out.exit_code == 1
    assert "older letswork" in out.output and "restart" in out.output, out.output
