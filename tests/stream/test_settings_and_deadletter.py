from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from consumers.engagement.settings import EngagementSettings
from consumers.revenue.settings import RevenueSettings
from stream.deadletter import deadletter_record, read_deadletter_record
from stream.decoding import Rejected
from stream.outcomes import RejectReason
from stream.settings import PulseSettings, SettingsError, load_settings


def test_defaults() -> None:
    s = PulseSettings()
    assert s.kafka_broker == "127.0.0.1:9092"
    assert s.topic("subscriptions") == "pulse.subscriptions"
    assert s.broker_url == "kafka://127.0.0.1:9092"


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_WEB_PORT", "seventy")
    load_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="PULSE_WEB_PORT"):
            load_settings()
    finally:
        load_settings.cache_clear()


def test_broker_scheme_is_accepted_and_garbage_refused() -> None:
    assert PulseSettings(kafka_broker="kafka://h:1").kafka_broker == "h:1"
    with pytest.raises(Exception, match="host:port"):
        PulseSettings(kafka_broker="nohost")


def test_currencies_and_fx_rates_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_CURRENCIES", "usd, EUR")
    monkeypatch.setenv("PULSE_FX_RATES", '{"USD": 1, "EUR": "1.08"}')
    assert PulseSettings().currencies == frozenset({"USD", "EUR"})
    assert str(RevenueSettings.load().fx_rates["EUR"]) == "1.08"
    monkeypatch.setenv("PULSE_FX_RATES", '{"EUR": 0}')
    with pytest.raises(SettingsError, match="PULSE_FX_RATES.*must be a finite number > 0"):
        RevenueSettings.load()
    monkeypatch.setenv("PULSE_FX_RATES", "not json")
    with pytest.raises(SettingsError, match="PULSE_FX_RATES"):
        RevenueSettings.load()


def test_a_family_section_names_its_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_KEY_FEATURES", "reports, alerts")
    assert EngagementSettings.load().key_features == ("reports", "alerts")
    monkeypatch.setenv("PULSE_ACTIVATION_DAYS", "0")
    with pytest.raises(SettingsError, match="PULSE_ACTIVATION_DAYS"):
        EngagementSettings.load()


def test_deadletter_record_keeps_original_bytes_and_coordinates() -> None:
    raw = b"\xff not json"
    record = deadletter_record(
        Rejected(RejectReason.INVALID_JSON, "boom", raw, None),
        "pulse.surveys",
        3,
        42,
        b"acct",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = read_deadletter_record(record)
    assert parsed["original"] == raw
    assert parsed["reason"] == "invalid_json" and parsed["error"] == "boom"
    assert (parsed["source_topic"], parsed["partition"], parsed["offset"]) == ("pulse.surveys", 3, 42)
    assert base64.b64decode(str(parsed["key_base64"])) == b"acct"
    assert orjson.loads(record)["rejected_at"] == "2026-01-01T00:00:00Z"


def test_non_json_mapping_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_FX_RATES", "EUR=1.08")
    with pytest.raises(SettingsError, match="PULSE_FX_RATES"):
        RevenueSettings.load()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "expected redis://host"),
        ("http://h:6379/0", "expected redis://host"),
        ("redis://h:99999/0", "the port is not a number"),
        ("redis://h:port/0", "the port is not a number"),
        ("redis:///0", "no host"),
        ("redis://h:6379/zero", "the database .zero. is not a number"),
    ],
)
def test_a_bad_redis_url_is_refused_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("PULSE_REDIS_URL", url)
    load_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=f"PULSE_REDIS_URL: {says}"):
            load_settings()
    finally:
        load_settings.cache_clear()
    assert PulseSettings(redis_url="redis://127.0.0.1:6380/2").redis_url == "redis://127.0.0.1:6380/2"


def test_a_broker_port_must_be_a_port() -> None:
    with pytest.raises(Exception, match="'h:abc' is not host:port"):
        PulseSettings(kafka_broker="h:1,h:abc")


def test_the_reporting_currency_and_every_accepted_currency_need_a_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from consumers.revenue.family import RevenueFamily

    monkeypatch.setenv("PULSE_REPORTING_CURRENCY", "EUR")  # with the default rates {"USD": 1}
    with pytest.raises(SettingsError, match="PULSE_REPORTING_CURRENCY: PULSE_FX_RATES must give .* EUR the rate 1"):
        RevenueSettings.load()
    monkeypatch.setenv("PULSE_FX_RATES", '{"EUR": 1, "USD": "0.92"}')
    assert RevenueSettings.load().reporting_currency == "EUR"
    with pytest.raises(SettingsError, match="PULSE_FX_RATES: no rate for GBP, which PULSE_CURRENCIES accepts"):
        RevenueFamily(PulseSettings(currencies=frozenset({"EUR", "GBP"})))


async def test_a_server_that_does_not_speak_kafka_is_named_not_a_broker() -> None:
    import asyncio

    from stream.admin import BrokerUnreachable, probe_kafka

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # a Redis port: waits for a line that never comes
        await asyncio.sleep(5)

    async def other_protocol(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"-ERR unknown command\r\n")
        await writer.drain()
        writer.close()

    for handler, says in ((silent, "did not answer as Kafka within 0s"), (other_protocol, "not a Kafka response")):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            named = f"PULSE_KAFKA_BROKER=127.0.0.1:{port} is not a Kafka broker.*{says}"
            with pytest.raises(BrokerUnreachable, match=named):
                await probe_kafka(PulseSettings(kafka_broker=f"127.0.0.1:{port}"), timeout=0.3)
        finally:
            server.close()
    with pytest.raises(BrokerUnreachable, match="is not reachable"):
        await probe_kafka(PulseSettings(kafka_broker="127.0.0.1:1"), timeout=0.3)
