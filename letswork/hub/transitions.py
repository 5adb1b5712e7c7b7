"""Tables of allowed state transitions, in the manner of h11's ``_state.py``.

A :class:`Transitions` maps each state to the states it may move to. The hub checks every
move against its table (:meth:`Transitions.check`) before making it; a move the table does not
list is a bug in the hub, never a peer's mistake, so it raises :class:`IllegalTransition`
(which a peer sees as ``internal``) and nothing of it is applied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

__all__ = ["IllegalTransition", "Transitions"]


class IllegalTransition(RuntimeError):
    """A move that the state's table does not allow (a bug in the hub)."""


@dataclasses.dataclass(frozen=True)
class Transitions:
    """What a state may become: ``allowed[old]`` is the set of states ``old`` may move to.

    ``name`` says what moves (``change status``, ``admission``) in the error's message.
    """

    name: str
    allowed: Mapping[str, frozenset[str]]

    def check(self, old: str, new: str) -> None:
        """Raise :class:`IllegalTransition` unless ``old`` may move to ``new``."""
        if new not in self.allowed.get(old, frozenset()):
            raise IllegalTransition(f"{self.name}: {old!r} may not become {new!r}")

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Every allowed move, as (old, new)."""
        return frozenset((old, new) for old, news in self.allowed.items() for new in news)
