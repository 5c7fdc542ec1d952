"""The fault suite: a known stream on the real stack, a fault injected mid-stream, every figure
compared with `pulse report` on the same input. Select with ``-m faults``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import Deployment, ensure_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def stack() -> None:
    ensure_stack()


@pytest.fixture(scope="module")
def deployment(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield Deployment(tmp_path_factory.mktemp("pulse"))
