"""A text file over one reply's limit through a guest's real channel (issue 16): `edit_file`
proposes a change the host can approve, and a whole-file `write_file` over the limit is
refused, saying so."""

from __future__ import annotations

from pathlib import Path

from letswork.shared.limits import MAX_FILE_BYTES
from tests.channel.mcp_support import change_id, guest_channel
from tests.support.hubs import make_project, running_hub


def _big_file(project: Path) -> bytes:
    """A 3 MiB JSON-like text file, one short line per package."""
    body = "".join(f'  "pkg-{i:06}": "1.0.{i % 1000:03}",\n' for i in range(3 * 2**20 // 27 + 1))
    data = ("{\n" + body + '  "end": "0"\n}\n').encode()
    assert len(data) > 3 * MAX_FILE_BYTES
    (project / "package-lock.json").write_bytes(data)
    return data


async def test_a_guests_edit_of_a_3_mib_file_is_a_change_the_host_approves(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    data = _big_file(project)
    old, new = '"pkg-054321": "1.0.321"', '"pkg-054321": "2.0.0"'
    async with running_hub(project) as hub, guest_channel(hub, "alice") as alice:
        proposed = await alice.ok(
            "edit_file", {"path": "package-lock.json", "old_string": old, "new_string": new}
        )
        host = await hub.host()
        approved = await host.call("approve_change", id=change_id(proposed))
    assert approved["change"]["status"] == "applied"
    assert (project / "package-lock.json").read_bytes() == data.replace(old.encode(), new.encode())


async def test_a_whole_file_write_over_one_replys_limit_is_refused_naming_the_limit(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "alice") as alice:
        refused = await alice.call(
            "write_file", {"path": "big.txt", "content": "x" * (MAX_FILE_BYTES + 1)}
        )
        pending = (await (await hub.host()).call("pending_changes"))["changes"]
    assert refused.is_error, refused.text
    assert refused.text.startswith(
        f"too_large: file is {MAX_FILE_BYTES + 1} bytes; the limit is {MAX_FILE_BYTES} bytes "
        "(1 MiB)"
    ), refused.text
    assert "only a whole-file write_file is capped lower" in refused.text
    assert pending == []
    assert not (project / "big.txt").exists()
