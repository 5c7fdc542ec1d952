"""Fixtures shared by the suites that run on the real stack (tests/integration, tests/faults);
each suite's conftest imports them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import Deployment, ensure_stack


@pytest.fixture(scope="session")
def stack() -> None:
    ensure_stack()


@pytest.fixture(scope="module")
def deployment(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield Deployment(tmp_path_factory.mktemp("pulse"))
