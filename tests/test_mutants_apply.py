"""The hand mutants of ``bench/mutants.py`` (docs/security.md, "Mutation testing") still apply:
each one's text is found exactly once in its file. A refactor that moves or rewrites the code
a mutant changes would otherwise leave that mutant unable to run, and ``python -m bench.mutants``
would silently check less than the table in docs/security.md claims (five had gone stale)."""

from __future__ import annotations

from bench import mutants


def test_every_hand_mutant_finds_its_text_exactly_once_in_its_file() -> None:
    stale = [f"{m.name} ({m.path})" for m in mutants.MUTANTS if mutants._where(m) is None]
    assert stale == []
