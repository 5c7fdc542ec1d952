"""Existing topics whose partition count differs from PULSE_TOPIC_PARTITIONS stop a worker at
start-up with a message naming the setting: entity partitions would be computed wrong."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from stream.admin import TopicLayoutError, ensure_topics
from stream.settings import PulseSettings
from tests.integration.harness import BROKER, REPO, Deployment


def test_a_partition_count_mismatch_fails_fast_and_names_the_setting(stack: None, tmp_path: Path) -> None:
    d = Deployment(tmp_path, partitions=4)
    d.create_topics()
    other = PulseSettings(kafka_broker=BROKER, topic_prefix=d.prefix, topic_partitions=6, app_id=d.env["PULSE_APP_ID"])
    with pytest.raises(TopicLayoutError, match=r"PULSE_TOPIC_PARTITIONS is 6 .*subscriptions \(4\)"):
        asyncio.run(ensure_topics(other))
    env = {**d.env, "PULSE_TOPIC_PARTITIONS": "6"}
    worker = subprocess.run(
        [sys.executable, "-m", "stream.cli", "worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 2 and "PULSE_TOPIC_PARTITIONS is 6" in worker.stderr
    assert "Traceback" not in worker.stderr
