from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.fixtures import deployment, stack
from tests.integration.harness import Deployment, Worker

__all__ = ["deployment", "stack"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def worker(deployment: Deployment) -> Iterator[Worker]:
    """One `pulse worker` of the module's deployment, started once for the module."""
    w = deployment.worker().start()
    yield w
    w.stop()
