"""Token bucket and failure window (pure; time is passed in)."""

from __future__ import annotations

import pytest

from letswork.hub.ratelimit import FailureWindow, TokenBucket


def test_bucket_allows_a_full_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=10.0, burst=5)
    assert all(bucket.take(0.0) for _ in range(5))
    assert bucket.take(0.0) is False


def test_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=5)
    for _ in range(5):
        bucket.take(0.0)
    assert [bucket.take(0.3) for _ in range(4)] == [True, True, True, False]


def test_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=5)
    bucket.take(0.0)
    results = [bucket.take(1000.0) for _ in range(6)]
    assert results == [True] * 5 + [False]


def test_retry_after_is_the_time_until_the_next_token() -> None:
    bucket = TokenBucket(rate=4.0, burst=1)
    assert bucket.retry_after(0.0) == 0.0
    bucket.take(0.0)
    assert bucket.retry_after(0.0) == pytest.approx(0.25)
    assert bucket.retry_after(0.1) == pytest.approx(0.15)


def test_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=10.0, burst=1)
    bucket.take(100.0)
    assert bucket.take(50.0) is False
    assert bucket.take(100.05) is False
    assert bucket.take(100.1) is True


def test_taking_several_tokens_at_once() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert bucket.take(0.0, n=3) is True
    assert bucket.take(0.0, n=1) is False


def test_bucket_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0.0, burst=1)


def test_failure_window_caps_one_key() -> None:
    window = FailureWindow(per_key=3, total=100)
    for t in range(3):
        assert window.allowed("a", float(t))
        window.record_failure("a", float(t))
    assert window.allowed("a", 3.0) is False
    assert window.allowed("b", 3.0) is True


def test_failure_window_caps_the_total_across_keys() -> None:
    window = FailureWindow(per_key=5, total=4)
    for i in range(4):
        window.record_failure(f"k{i}", 0.0)
    assert window.allowed("fresh", 1.0) is False


def test_key_recovers_once_its_failures_leave_the_window() -> None:
    window = FailureWindow(per_key=2, total=100, window=60.0)
    window.record_failure("a", 0.0)
    window.record_failure("a", 10.0)
    assert window.allowed("a", 59.9) is False
    assert window.allowed("a", 60.0) is True
    window.record_failure("a", 60.0)
    assert window.allowed("a", 69.9) is False
    assert window.allowed("a", 70.0) is True


def test_total_recovers_once_failures_leave_the_window() -> None:
    window = FailureWindow(per_key=10, total=2, window=60.0)
    window.record_failure("a", 0.0)
    window.record_failure("b", 0.0)
    assert window.allowed("c", 30.0) is False
    assert window.allowed("c", 60.0) is True


def test_failures_recorded_past_the_cap_do_not_extend_memory() -> None:
    window = FailureWindow(per_key=3, total=5, window=60.0)
    for i in range(1000):
        window.record_failure("a", i / 1000)
    assert window.failures("a", 1.0) == 3
    assert window.allowed("a", 61.0) is True


def test_failure_window_forgets_the_oldest_key_beyond_max_keys() -> None:
    window = FailureWindow(per_key=1, total=1000, max_keys=2)
    window.record_failure("a", 0.0)
    window.record_failure("b", 1.0)
    window.record_failure("c", 2.0)
    assert window.failures("a", 3.0) == 0
    assert window.failures("b", 3.0) == 1
    assert window.failures("c", 3.0) == 1
