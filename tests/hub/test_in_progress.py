"""InProgress, the caps on handshakes in progress (issue 13 item 4), as a pure class.

The hub tests reach it only through real connections, where a slot that is never given back
or a per-source cap that is never applied hid behind the global cap (bench/mutants.py).
"""

from __future__ import annotations

from letswork.hub.ratelimit import InProgress


def test_a_source_gets_per_key_slots_and_no_more() -> None:
    slots = InProgress(per_key=2, total=10)
    holders = [object() for _ in range(3)]
    for holder in holders:
        assert slots.enter(holder)
    assigned = [slots.assign(holder, "203.0.113.7") for holder in holders]
    assert assigned == [True, True, False]
    assert slots.count("203.0.113.7") == 2
    assert slots.assign(holders[2], "198.51.100.1")  # another source still may


def test_leaving_gives_the_sources_slot_back() -> None:
    slots = InProgress(per_key=1, total=10)
    for _ in range(5):  # one source, one handshake after another
        holder = object()
        assert slots.enter(holder)
        assert slots.assign(holder, "203.0.113.7")
        slots.leave(holder)
    assert slots.count("203.0.113.7") == 0
    assert len(slots) == 0


def test_the_global_cap_counts_every_holder() -> None:
    slots = InProgress(per_key=1, total=2)
    first, second, third = object(), object(), object()
    assert slots.enter(first) and slots.enter(second)
    assert not slots.enter(third)
    slots.leave(first)
    slots.leave(first)  # idempotent
    assert slots.enter(third)
    assert len(slots) == 2


def test_a_holder_is_charged_to_one_source_at_most() -> None:
    slots = InProgress(per_key=5, total=5)
    holder = object()
    slots.enter(holder)
    assert slots.assign(holder, "a")
    assert slots.assign(holder, "a")  # again: no second charge
    assert not slots.assign(holder, "b")
    assert slots.count("a") == 1 and slots.count("b") == 0
    assert not slots.assign(object(), "a")  # no slot, no charge
