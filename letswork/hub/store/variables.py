"""Shared variables: one value per key, with who set it and when (schema 2)."""

from __future__ import annotations

import dataclasses

from letswork.hub.store.base import StoreBase, _guarded

__all__ = ["VarRow", "VariableTables"]


@dataclasses.dataclass(frozen=True)
class VarRow:
    key: str
    value: str
    updated_by: str
    updated_at: float


class VariableTables(StoreBase):
    """Shared variables."""

    # -- shared variables ----------------------------------------------------------------------

    @_guarded
    def set_var(self, key: str, value: str, by: str, now: float) -> VarRow:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO vars (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (key, value, by, now),
            )
        return VarRow(key, value, by, now)

    @_guarded
    def get_var(self, key: str) -> VarRow | None:
        row = self._conn.execute(
            "SELECT key, value, updated_by, updated_at FROM vars WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else VarRow(*row)

    @_guarded
    def list_vars(self) -> list[VarRow]:
        """Every variable, by key."""
        rows = self._conn.execute(
            "SELECT key, value, updated_by, updated_at FROM vars ORDER BY key"
        ).fetchall()
        return [VarRow(*row) for row in rows]

    @_guarded
    def count_vars(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM vars").fetchone()[0])

    @_guarded
    def delete_var(self, key: str) -> bool:
        with self.transaction():
            cur = self._conn.execute("DELETE FROM vars WHERE key = ?", (key,))
        return cur.rowcount == 1
