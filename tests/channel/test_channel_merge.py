"""Approvals that merge through real MCP clients over stdio (issue 17, part 2): the host's
assistant sees a clean merge and approves it by its hashes; the guest's assistant reads a
conflict with get_change, fixes it with update_change, and the host approves it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.channel.mcp_support import change_id, invite_code, joined, mcp_channel, observer
from tests.support.hubs import make_project, running_hub

TEXT = "".join(f"line {i}\n" for i in range(1, 11))


def _with(text: str, number: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number - 1] = new
    return "".join(lines)


async def test_merge_shown_then_approved_and_conflict_fixed_with_update_change(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    (project / "code.py").write_text(TEXT, encoding="utf-8")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        code = await invite_code(hub, "editor", "alice")
        async with (
            mcp_channel("--name", "alice", invite_code=code) as guest,
            mcp_channel("--host", "--project", str(project)) as host,
        ):
            await joined(watcher, "alice")
            wrote = await guest.ok(
                "write_file", {"path": "code.py", "content": _with(TEXT, 9, "guest 9\n")}
            )
            clean_id = change_id(wrote)
            (project / "code.py").write_text(_with(TEXT, 2, "host 2\n"), encoding="utf-8")
            shown = await host.ok("approve_change", {"id": clean_id})
            assert "was NOT applied yet" in shown and "+guest 9" in shown
            shas = dict(re.findall(r"(current_sha256|merged_sha256)=([0-9a-f]{64})", shown))
            done = await host.ok("approve_change", {"id": clean_id, **shas})
            assert f"Change {clean_id} is applied (merged cleanly" in done
            merged = _with(_with(TEXT, 2, "host 2\n"), 9, "guest 9\n")
            assert (project / "code.py").read_text(encoding="utf-8") == merged

            answer = await guest.call(
                "write_file", {"path": "code.py", "content": _with(merged, 5, "guest 5\n")}
            )
            cid = change_id(answer.text)
            # The decided event, in this result's digest: "merged cleanly"
            assert "applied, merged cleanly with the host's changes" in answer.blocks[-1]
            (project / "code.py").write_text(_with(merged, 5, "host 5\n"), encoding="utf-8")
            refused = await host.ok("approve_change", {"id": cid})
            assert "status conflict, conflict in line 5" in refused

            seen = await guest.call("get_change", {"id": cid})
            view = seen.text
            assert "hit a conflict (conflict in line 5)" in seen.blocks[-1]  # the digest
            assert "Conflict at line 5 of the current file" in view
            assert "current (the host's):\nhost 5" in view and "proposed:\nguest 5" in view
            fixed = await guest.ok(
                "update_change",
                {"id": cid, "old_string": "host 5\n", "new_string": "host 5, guest 5\n"},
            )
            assert f"Proposed change {cid}" in fixed
            approved = await host.ok("approve_change", {"id": cid})
            assert f"Change {cid} is applied" in approved
            final = _with(merged, 5, "host 5, guest 5\n")
            assert (project / "code.py").read_text(encoding="utf-8") == final


async def test_the_host_s_assistant_approving_a_proposal_resubmitted_since_it_read_it_is_refused(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    (project / "code.py").write_text(TEXT, encoding="utf-8")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        code = await invite_code(hub, "editor", "alice")
        async with (
            mcp_channel("--name", "alice", invite_code=code) as guest,
            mcp_channel("--host", "--project", str(project)) as host,
        ):
            await joined(watcher, "alice")
            wrote = await guest.ok(
                "write_file", {"path": "code.py", "content": _with(TEXT, 5, "guest 5\n")}
            )
            cid = change_id(wrote)
            listed = await host.ok("get_pending_changes")
            d1 = re.findall(r"proposal_sha256 ([0-9a-f]{64})", listed)
            assert len(d1) == 1 and "+guest 5" in listed
            (project / "code.py").write_text(_with(TEXT, 5, "host 5\n"), encoding="utf-8")
            conflict = await host.ok("approve_change", {"id": cid, "proposal_sha256": d1[0]})
            assert "status conflict" in conflict
            await guest.ok("update_change", {"id": cid, "content": _with(TEXT, 5, "other 5\n")})

            stale = await host.call("approve_change", {"id": cid, "proposal_sha256": d1[0]})
            assert stale.is_error and stale.text.startswith("conflict: ")
            assert "Next step: the change was resubmitted since you reviewed it" in stale.text
            assert (project / "code.py").read_text(encoding="utf-8") == _with(TEXT, 5, "host 5\n")

            seen = await host.ok("get_change", {"id": cid})
            assert "+other 5" in seen and "(revision 2, as shown here)" in seen
            d2 = re.findall(r"approve_change with proposal_sha256=([0-9a-f]{64})", seen)
            assert len(d2) == 1 and d2[0] != d1[0]
            done = await host.ok("approve_change", {"id": cid, "proposal_sha256": d2[0]})
            assert f"Change {cid} is applied" in done
            assert (project / "code.py").read_text(encoding="utf-8") == _with(TEXT, 5, "other 5\n")
