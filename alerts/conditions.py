"""Whether a rule's condition holds for one value: pure functions of the value, the rule's
daily baseline points and whether the alert is firing (for hysteresis)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from alerts.rules import Direction, DriftCondition, DriftMethod, ThresholdCondition

__all__ = ["Verdict", "judge", "baseline_of"]


@dataclass(frozen=True, slots=True)
class Verdict:
    #: True: the condition holds; False: it does not; None: the rule cannot tell (``silent``)
    active: bool | None
    #: the baseline the value was compared with (drift rules), else None
    baseline: float | None = None
    #: relative change, or standard deviations from the baseline (drift rules)
    deviation: float | None = None
    #: why the rule cannot judge, shown in its status (too few baseline points, ...)
    silent: str | None = None


def _threshold(c: ThresholdCondition, value: float, firing: bool) -> Verdict:
    if c.above is not None:
        limit = c.resolve if firing and c.resolve is not None else c.above
        return Verdict(value > limit)
    assert c.below is not None
    limit = c.resolve if firing and c.resolve is not None else c.below
    return Verdict(value < limit)


def baseline_of(c: DriftCondition, points: Sequence[float]) -> tuple[float, float]:
    """(centre, spread) of the baseline points: mean and sample standard deviation, or the
    EWMA and its exponentially weighted standard deviation."""
    if c.method is DriftMethod.EWMA:
        mean, var = points[0], 0.0
        for x in points[1:]:
            diff = x - mean
            mean += c.alpha * diff
            var = (1 - c.alpha) * (var + c.alpha * diff * diff)
        return mean, math.sqrt(var)
    mean = math.fsum(points) / len(points)
    var = math.fsum((x - mean) ** 2 for x in points) / (len(points) - 1)
    return mean, math.sqrt(var)


def _beyond(c: DriftCondition, deviation: float, limit: float) -> bool:
    if c.direction is Direction.UP:
        return deviation > limit
    if c.direction is Direction.DOWN:
        return deviation < -limit
    return abs(deviation) > limit


def _drift(c: DriftCondition, value: float, points: Sequence[float], firing: bool) -> Verdict:
    points = list(points)[-c.baseline_points :]
    if len(points) < c.min_baseline_points:
        return Verdict(None, silent=f"{len(points)} of the {c.min_baseline_points} baseline points needed")
    centre, spread = baseline_of(c, points)
    if c.method is DriftMethod.RELATIVE:
        if centre == 0:
            return Verdict(None, centre, silent="the baseline mean is 0: a relative change is undefined")
        deviation = (value - centre) / abs(centre)
    elif spread == 0:
        deviation = 0.0 if value == centre else math.copysign(math.inf, value - centre)
    else:
        deviation = (value - centre) / spread
    limit = c.resolve if firing and c.resolve is not None else c.threshold
    return Verdict(_beyond(c, deviation, limit), centre, deviation)


def judge(
    condition: ThresholdCondition | DriftCondition, value: float, points: Sequence[float], firing: bool
) -> Verdict:
    """The verdict on ``value`` (``points``: the daily baseline, oldest first, the current day
    left out; ``firing``: the alert fires now, so a resolve level applies)."""
    if math.isnan(value):
        return Verdict(None, silent="the value is NaN")
    if isinstance(condition, ThresholdCondition):
        return _threshold(condition, value, firing)
    return _drift(condition, value, points, firing)
