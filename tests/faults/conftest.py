"""The fault suite: a known stream on the real stack, a fault injected mid-stream, every figure
compared with `pulse report` on the same input. Select with ``-m faults``."""

from __future__ import annotations

import pytest

from tests.integration.fixtures import deployment, stack

__all__ = ["deployment", "stack"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)
