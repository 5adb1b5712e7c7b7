"""The letswork benchmark harness: ``python -m bench`` or ``python bench/run.py``."""
