"""Services a worker runs beside its ingest engine (alerting is one), found through the
``pulse.services`` entry points so the runtime imports none of them.

A service is a mode ``Service`` (started and stopped with the worker) built from the worker's
:class:`~stream.app.Runtime`; every hook has a documented no-op default.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, ClassVar

from mode import Service
from prometheus_client.registry import Collector

from stream.family import Route
from stream.settings import FamilySettings, PulseSettings, SettingsError

if TYPE_CHECKING:
    from stream.app import Runtime

__all__ = ["SERVICES_GROUP", "WorkerService", "installed_services"]

SERVICES_GROUP = "pulse.services"


class WorkerService(Service):
    """Base of a worker's service. Construction reads and checks its settings (a bad one
    fails the worker's start naming the field); ``on_start`` / ``on_stop`` run with the worker."""

    #: short name, for logs
    name: ClassVar[str] = ""
    #: the service's settings section (``PULSE_<FIELD>`` variables), listed for checks
    settings_model: ClassVar[type[FamilySettings]] = FamilySettings

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(loop=runtime.app.loop)
        self.runtime = runtime

    @classmethod
    def topics(cls, settings: PulseSettings) -> dict[str, dict[str, str]]:
        """Topics the service writes (full name -> topic configs), created with the worker's."""
        return {}

    def collectors(self) -> Iterable[Collector]:
        """Prometheus collectors of the service, on the worker's /metrics."""
        return ()

    def routes(self) -> Iterable[Route]:
        """HTTP routes of the service, on the worker's web port."""
        return ()


def installed_services() -> list[type[WorkerService]]:
    found: list[type[WorkerService]] = []
    for point in entry_points(group=SERVICES_GROUP):
        try:
            cls = point.load()
        except Exception as exc:  # name the plug-in, no traceback
            raise SettingsError(f"service {point.name!r} ({point.value}) cannot be loaded: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, WorkerService)):
            raise SettingsError(f"service {point.name!r} ({point.value}) is not a WorkerService subclass")
        found.append(cls)
    return found
