"""The audit log: who did what, when, with a JSON detail."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from letswork.hub.store.base import _guarded
from letswork.hub.store.bounds import StoreBounds

__all__ = ["AuditRow", "AuditTables"]


#: An entry's actor as shown: the current name of its identity while the hub knows it.
_ACTOR = (
    "COALESCE((SELECT g.name FROM guests g WHERE g.guest_id = audit.actor_id"
    " AND audit.actor_id != 'host'), actor)"
)


@dataclasses.dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    actor: str
    kind: str
    path: str | None
    detail: dict[str, Any]


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class AuditTables(StoreBounds):
    """The audit log."""

    # -- audit log -----------------------------------------------------------------------------

    @_guarded
    def audit(
        self,
        actor: str,
        kind: str,
        now: float,
        *,
        path: str | None = None,
        actor_id: str | None = None,
        **detail: Any,
    ) -> None:
        """Append one audit entry; ``detail`` is stored as a JSON object.

        Values JSON cannot hold are stored as text: bytes as hex, sets and tuples as lists,
        anything else as ``str(value)``. Never pass a secret here. ``actor_id`` (``"host"`` or
        a guest id) is whose share of the log the entry counts against: beyond
        ``limits.max_audit_entries_per_guest`` / ``max_audit_bytes_per_guest`` a guest's own
        oldest entries are pruned, beyond the ``max_audit_*_total`` caps anyone's.
        """
        text = json.dumps(
            detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
        )
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO audit (at, actor, kind, path, detail, actor_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now, actor, kind, path, text, actor_id),
            )
            self._prune_audit(actor_id, int(cur.lastrowid or 0))

    @_guarded
    def audit_log(
        self,
        *,
        actor: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        before_id: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        """The newest ``limit`` matching entries (``at >= since``, ``id < before_id``),
        returned oldest first. ``actor`` is the current name of the guest who wrote an
        entry (an identity renamed since shows its new name), else the name written."""
        where: list[str] = []
        params: list[Any] = []
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if actor is not None:
            # _ACTOR = ?, spelled so that each branch uses an index (audit_by_actor_id,
            # audit_by_actor) instead of a subquery per row of the whole log.
            where.append(
                "(actor_id IN (SELECT guest_id FROM guests WHERE name = ? AND guest_id != 'host')"
                " OR (actor = ? AND (actor_id IS NULL OR actor_id = 'host' OR NOT EXISTS"
                " (SELECT 1 FROM guests g WHERE g.guest_id = audit.actor_id))))"
            )
            params.extend((actor, actor))
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        sql = f"SELECT id, at, {_ACTOR}, kind, path, detail FROM audit"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        params.append(max(0, limit))
        rows = self._conn.execute(sql + " ORDER BY id DESC LIMIT ?", params).fetchall()
        return [
            AuditRow(id=i, at=at, actor=a, kind=k, path=p, detail=json.loads(d))
            for i, at, a, k, p, d in reversed(rows)
        ]
