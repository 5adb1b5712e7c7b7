"""The cursor of the dashboard's tables (people, pending changes, locks): which row it is on, and
putting it back on that row after the table is refilled."""

from __future__ import annotations

import contextlib
from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import DataTable


def _cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    row = min(max(table.cursor_row, 0), table.row_count - 1)
    return table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value


def _restore_cursor(table: DataTable[Any], key: str | None) -> None:
    if key is None or table.row_count == 0:
        return
    with contextlib.suppress(Exception):
        table.move_cursor(row=table.get_row_index(key), animate=False)
