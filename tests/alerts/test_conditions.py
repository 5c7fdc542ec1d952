"""Threshold and drift conditions against an independent reference (the statistics module)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.conditions import judge
from alerts.rules import DriftCondition, ThresholdCondition


def drift(**fields: object) -> DriftCondition:
    base: dict[str, object] = {"type": "drift", "method": "relative", "threshold": 0.2, "baseline_points": 10,
                               "min_baseline_points": 3}  # fmt: skip
    return DriftCondition.model_validate({**base, **fields})


def test_threshold_above_with_hysteresis() -> None:
    c = ThresholdCondition(type="threshold", above=100, resolve=80)
    assert judge(c, 101, [], firing=False).active is True
    assert judge(c, 100, [], firing=False).active is False  # strictly above
    assert judge(c, 90, [], firing=True).active is True  # still above the resolve level
    assert judge(c, 79, [], firing=True).active is False
    assert judge(c, 90, [], firing=False).active is False  # not firing: the threshold applies


def test_threshold_below_with_hysteresis() -> None:
    c = ThresholdCondition(type="threshold", below=1.0, resolve=1.02)
    assert judge(c, 0.99, [], firing=False).active is True
    assert judge(c, 1.01, [], firing=True).active is True
    assert judge(c, 1.03, [], firing=True).active is False
    assert judge(c, 1.0, [], firing=False).active is False


def test_relative_drift_up_down_and_both() -> None:
    points = [100.0] * 10
    assert judge(drift(), 121, points, False).active is True
    assert judge(drift(), 119, points, False).active is False
    assert judge(drift(), 70, points, False).active is False  # direction up only
    assert judge(drift(direction="down"), 70, points, False).active is True
    assert judge(drift(direction="both"), 70, points, False).active is True
    assert judge(drift(direction="both"), 130, points, False).active is True
    v = judge(drift(), 130, points, False)
    assert v.baseline == 100 and v.deviation == pytest.approx(0.3)


def test_relative_drift_resolves_at_its_resolve_level() -> None:
    c, points = drift(resolve=0.1), [100.0] * 10
    assert judge(c, 115, points, firing=True).active is True  # +15%: still firing
    assert judge(c, 109, points, firing=True).active is False
    assert judge(c, 115, points, firing=False).active is False  # not enough to start


def test_too_few_points_is_silent_and_says_so() -> None:
    v = judge(drift(min_baseline_points=5), 500, [1.0, 1.0, 1.0, 1.0], False)
    assert v.active is None and v.silent == "4 of the 5 baseline points needed"


def test_only_the_last_baseline_points_count() -> None:
    c = drift(baseline_points=3, min_baseline_points=3)
    v = judge(c, 10, [1000.0, 1000.0, 10.0, 10.0, 10.0], False)
    assert v.baseline == 10 and v.active is False


def test_a_zero_baseline_mean_is_undefined_not_infinite() -> None:
    v = judge(drift(), 5, [0.0, 0.0, 0.0], False)
    assert v.active is None and "0" in (v.silent or "")


def test_zscore_of_a_flat_baseline() -> None:
    c = drift(method="zscore", threshold=3)
    assert judge(c, 5, [5.0] * 5, False).active is False
    assert judge(c, 5.1, [5.0] * 5, False).active is True  # any change of a constant is infinite


def test_nan_is_silent() -> None:
    assert judge(ThresholdCondition(type="threshold", above=1), math.nan, [], False).active is None


values = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=3, max_size=40)


@given(points=values, value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_zscore_agrees_with_the_statistics_module(points: list[float], value: float) -> None:
    c = drift(method="zscore", threshold=2.5, direction="both", baseline_points=40)
    v = judge(c, value, points, False)
    mean, sd = statistics.fmean(points), statistics.stdev(points)
    assert v.baseline == pytest.approx(mean, rel=1e-9, abs=1e-6)
    if sd > 1e-6:
        expected = (value - mean) / sd
        assert v.deviation == pytest.approx(expected, rel=1e-6, abs=1e-6)
        if abs(abs(expected) - 2.5) > 1e-6:
            assert v.active is (abs(expected) > 2.5)


@given(points=values, value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
       alpha=st.floats(min_value=0.05, max_value=1.0))  # fmt: skip
def test_ewma_agrees_with_a_direct_recursion(points: list[float], value: float, alpha: float) -> None:
    c = drift(method="ewma", threshold=3, direction="both", baseline_points=40, alpha=alpha)
    # the textbook recursion (Roberts 1959; West's incremental variance), written out again
    s, var = points[0], 0.0
    for x in points[1:]:
        var = (1 - alpha) * (var + alpha * (x - s) ** 2)
        s = alpha * x + (1 - alpha) * s
    v = judge(c, value, points, False)
    assert v.baseline == pytest.approx(s, rel=1e-9, abs=1e-6)
    if math.sqrt(var) > 1e-3:
        assert v.deviation == pytest.approx((value - s) / math.sqrt(var), rel=1e-6, abs=1e-6)
