"""Tasks and their dependencies (schema 2)."""

from __future__ import annotations

import dataclasses
from typing import Any

from letswork.hub.store.base import StoreBase, _guarded
from letswork.shared.errors import ErrorCode, op_error

__all__ = ["TaskRow", "TaskTables"]


@dataclasses.dataclass(frozen=True)
class TaskRow:
    id: int
    title: str
    description: str
    priority: str
    status: str
    assignee_id: str | None
    assignee_name: str | None
    note: str | None
    created_by: str
    created_at: float
    updated_at: float
    depends_on: tuple[int, ...]


_TASK_COLS = (
    "t.id, t.title, t.description, t.priority, t.status, t.assignee_id, t.assignee_name,"
    " t.note, t.created_by, t.created_at, t.updated_at"
)
_SQL_GET_TASK = f"SELECT {_TASK_COLS} FROM tasks t WHERE t.id = ?"  # noqa: S608
_SQL_LIST_TASKS = f"SELECT {_TASK_COLS} FROM tasks t ORDER BY t.id"  # noqa: S608
_SQL_TASKS_OF = f"SELECT {_TASK_COLS} FROM tasks t WHERE t.assignee_id = ? ORDER BY t.id"  # noqa: S608
_SQL_DEPENDENTS = (
    f"SELECT {_TASK_COLS} FROM tasks t JOIN task_deps d ON d.task_id = t.id"  # noqa: S608
    " WHERE d.depends_on = ? ORDER BY t.id"
)


def _task_row(row: tuple[Any, ...], deps: tuple[int, ...]) -> TaskRow:
    tid, title, description, priority, status, a_id, a_name, note, by, created, updated = row
    return TaskRow(
        tid, title, description, priority, status, a_id, a_name, note, by, created, updated, deps
    )


class TaskTables(StoreBase):
    """Tasks and their dependencies."""

    # -- tasks ---------------------------------------------------------------------------------

    def _deps_of(self, task_ids: list[int] | None) -> dict[int, tuple[int, ...]]:
        if task_ids is None:
            rows = self._conn.execute(
                "SELECT task_id, depends_on FROM task_deps ORDER BY task_id, depends_on"
            ).fetchall()
        else:
            rows = []
            for start in range(0, len(task_ids), 500):
                chunk = task_ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows += self._conn.execute(
                    "SELECT task_id, depends_on FROM task_deps"  # noqa: S608 - only '?' marks
                    f" WHERE task_id IN ({marks}) ORDER BY task_id, depends_on",
                    chunk,
                ).fetchall()
        deps: dict[int, list[int]] = {}
        for task_id, dep in rows:
            deps.setdefault(task_id, []).append(dep)
        return {task_id: tuple(ids) for task_id, ids in deps.items()}

    def _task_rows(self, rows: list[tuple[Any, ...]], *, all_deps: bool = False) -> list[TaskRow]:
        deps = self._deps_of(None if all_deps else [row[0] for row in rows])
        return [_task_row(row, deps.get(row[0], ())) for row in rows]

    @_guarded
    def count_tasks(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])

    @_guarded
    def add_task(
        self,
        *,
        title: str,
        description: str,
        priority: str,
        status: str,
        assignee_id: str | None,
        assignee_name: str | None,
        created_by: str,
        now: float,
        depends_on: tuple[int, ...] = (),
    ) -> TaskRow:
        """Store a new task and its dependencies (which must exist), committed on return."""
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO tasks (title, description, priority, status, assignee_id,"
                " assignee_name, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    title,
                    description,
                    priority,
                    status,
                    assignee_id,
                    assignee_name,
                    created_by,
                    now,
                    now,
                ),
            )
            task_id = int(cur.lastrowid or 0)
            self._conn.executemany(
                "INSERT INTO task_deps (task_id, depends_on) VALUES (?, ?)",
                [(task_id, dep) for dep in sorted(set(depends_on))],
            )
        task = self.get_task(task_id)
        assert task is not None
        return task

    @_guarded
    def get_task(self, task_id: int) -> TaskRow | None:
        rows = self._conn.execute(_SQL_GET_TASK, (task_id,)).fetchall()
        return self._task_rows(rows)[0] if rows else None

    @_guarded
    def list_tasks(self) -> list[TaskRow]:
        """Every task, by id."""
        return self._task_rows(self._conn.execute(_SQL_LIST_TASKS).fetchall(), all_deps=True)

    @_guarded
    def tasks_assigned(self, assignee_id: str) -> list[TaskRow]:
        """The tasks assigned to ``assignee_id``, by id."""
        rows = self._conn.execute(_SQL_TASKS_OF, (assignee_id,)).fetchall()
        return self._task_rows(rows)

    @_guarded
    def dependents(self, task_id: int) -> list[TaskRow]:
        """The tasks that depend on ``task_id``, by id."""
        rows = self._conn.execute(_SQL_DEPENDENTS, (task_id,)).fetchall()
        return self._task_rows(rows)

    @_guarded
    def update_task(
        self,
        task_id: int,
        *,
        status: str,
        assignee_id: str | None,
        assignee_name: str | None,
        note: str | None,
        now: float,
    ) -> TaskRow:
        """Replace a task's status, assignee and note. Raises ``OpError(not_found)``."""
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE tasks SET status = ?, assignee_id = ?, assignee_name = ?, note = ?,"
                " updated_at = ? WHERE id = ?",
                (status, assignee_id, assignee_name, note, now, task_id),
            )
        if cur.rowcount != 1:
            raise op_error(ErrorCode.NOT_FOUND, f"no task {task_id}", task_id=task_id)
        task = self.get_task(task_id)
        assert task is not None
        return task

    @_guarded
    def count_tasks_done(self, assignee_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM tasks WHERE assignee_id = ? AND status = 'done'", (assignee_id,)
        ).fetchone()
        return int(row[0])
