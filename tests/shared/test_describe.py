"""The words the channel (and the dashboard) use for catalogue data: ``shared/describe.py``."""

from __future__ import annotations

from letswork.shared import describe
from letswork.shared.protocol.base import LockInfo
from letswork.shared.protocol.changes import ChangeDecidedData, ChangeInfo
from letswork.shared.protocol.presence import ActivityEntry
from letswork.shared.protocol.session import PeerData, PeerLeftData
from letswork.shared.sanitize import MARKER
from tests.shared.protocol.examples import CHANGE, LOCK, T


def test_count_uses_the_singular_for_one_and_the_given_plural_otherwise() -> None:
    assert describe.count(1, "entry", "entries") == "1 entry"
    assert describe.count(0, "entry", "entries") == "0 entries"
    assert describe.count(3, "file") == "3 files"


def test_change_what_names_the_kind_with_its_article_and_both_paths_of_a_move() -> None:
    assert describe.change_what(ChangeInfo.model_validate(CHANGE)) == "an edit of src/app.py"
    write = ChangeInfo.model_validate({**CHANGE, "kind": "write"})
    assert describe.change_what(write) == "a write of src/app.py"
    move = ChangeInfo.model_validate({**CHANGE, "kind": "move", "new_path": "b.py"})
    assert describe.change_what(move) == "move of src/app.py to b.py"


def test_a_peer_written_name_is_cleaned_and_cut() -> None:
    name = describe.who("<b>\u200bx" + "y" * 100)
    assert name.startswith("<b>" + MARKER)
    assert len(name) <= describe.NAME_CHARS + 1  # the cut adds an ellipsis


def test_lock_held_gives_the_expiry_in_utc_or_the_pending_change_that_holds_it() -> None:
    lock = LockInfo.model_validate(LOCK)
    assert describe.lock_held(lock) == f"held by alice until {describe.clock(T + 1800)}"
    held = LockInfo.model_validate({**LOCK, "change_id": "c<1>"})
    assert describe.lock_held(held) == "held by alice's pending change c<1>"


def test_times_are_shown_in_utc_whatever_the_local_zone() -> None:
    assert describe.stamp(0) == "1970-01-01 00:00:00 UTC"
    assert describe.clock(3600 * 5 + 61) == "05:01 UTC"


def test_size_switches_unit_at_each_kibibyte_step() -> None:
    assert describe.size(1023) == "1023 B"
    assert describe.size(1536) == "1.5 KiB"
    assert describe.size(3 * 1024 * 1024) == "3.0 MiB"


# ------------------------------------------------------------------------- for a terminal


def test_a_terminal_summary_of_a_move_names_both_paths() -> None:
    move = ChangeInfo.model_validate({**CHANGE, "kind": "move", "new_path": "b.py"})
    assert describe.change_summary(move) == "move src/app.py -> b.py"
    assert describe.sensitive_mark(move) == ""
    marked = ChangeInfo.model_validate({**CHANGE, "sensitive": "hooks\nrun code"})
    assert describe.sensitive_mark(marked) == " [sensitive: hooks run code]"


def test_terminal_words_drop_escapes_but_do_not_html_escape() -> None:
    data = PeerLeftData(peer_id="p1", name="bob", reason="<b>\x1b[31mgone")
    [(words, tone)] = describe.feed_line("peer_left", data)
    assert words == f"bob left (<b>{MARKER}gone)"
    assert tone == ""


def test_a_decision_is_toned_by_its_outcome() -> None:
    tones = {}
    for status in ("applied", "rejected", "conflict"):
        change = ChangeInfo.model_validate({**CHANGE, "status": status})
        pieces = describe.feed_line("change_decided", ChangeDecidedData(change=change))
        tones[status] = pieces[0][1]
    assert tones == {"applied": "ok", "rejected": "warn", "conflict": "error"}


def test_a_guest_waiting_for_admission_is_set_off_and_told_the_keys() -> None:
    data = PeerData(peer_id="p2", name="carol", role="editor")
    pieces = describe.feed_line("awaiting_admission", data)
    assert pieces == [("carol is waiting to be admitted", "waiting"), (" (y admit, n deny)", "")]


def test_an_activity_entry_of_an_unknown_kind_lists_its_details_and_a_missing_one_reads_blank() -> (
    None
):
    odd = ActivityEntry(id=1, at=T, actor="bob", kind="frob", path="a.py", detail={"n": [1, "x"]})
    assert describe.activity_line(odd) == "bob frob a.py n=#1, x"
    bare = ActivityEntry(id=2, at=T, actor="bob", kind="admit", path=None, detail={})
    assert describe.activity_line(bare) == "bob admitted ?"
