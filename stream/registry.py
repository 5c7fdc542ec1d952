"""The registry of metric families the runtime hosts.

Families are plug-ins found through the ``pulse.families`` entry points (pyproject.toml), so
the runtime imports none of them; a test or an embedding program may also pass its own list.
The engine, replay, the web server and the CLI all iterate one :class:`FamilyRegistry`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points

from stream.family import CountOnly, MetricFamily, Processor, Report
from stream.settings import PulseSettings, SettingsError
from stream.topics import SOURCE_TOPICS

__all__ = ["ENTRY_POINT_GROUP", "FamilyRegistry", "installed_families", "reports_of", "RegistryError"]

ENTRY_POINT_GROUP = "pulse.families"


class RegistryError(SettingsError):
    """A family cannot be loaded or claims what it cannot have; the message names it."""


def installed_families() -> list[type[MetricFamily]]:
    """The family classes of the ``pulse.families`` entry points, in declaration order."""
    found: list[type[MetricFamily]] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = point.load()
        except Exception as exc:  # a broken plug-in must name itself, not crash with a traceback
            raise RegistryError(f"metric family {point.name!r} ({point.value}) cannot be loaded: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, MetricFamily)):
            raise RegistryError(f"metric family {point.name!r} ({point.value}) is not a MetricFamily subclass")
        found.append(cls)
    return found


class FamilyRegistry:
    """The families of one process, each constructed once with the core settings."""

    def __init__(self, families: Sequence[MetricFamily]) -> None:
        self.families = list(families)
        self.by_topic: dict[str, MetricFamily] = {}
        names: set[str] = set()
        for family in self.families:
            if not family.name or family.name in names:
                raise RegistryError(f"metric family {type(family).__name__} needs a unique name, got {family.name!r}")
            names.add(family.name)
            for topic in family.topics:
                if topic not in SOURCE_TOPICS:
                    raise RegistryError(
                        f"metric family {family.name!r} consumes unknown topic {topic!r}; "
                        f"expected one of {', '.join(SOURCE_TOPICS)}"
                    )
                other = self.by_topic.get(topic)
                if other is not None:
                    raise RegistryError(f"topic {topic!r} is claimed by families {other.name!r} and {family.name!r}")
                self.by_topic[topic] = family

    @classmethod
    def installed(cls, settings: PulseSettings) -> FamilyRegistry:
        return cls([family(settings) for family in installed_families()])

    def __iter__(self) -> Iterator[MetricFamily]:
        return iter(self.families)

    def processors(self, *, replay: bool = False) -> dict[str, Processor]:
        """A processor for every source topic: its family's, or counting only."""
        return {
            topic: family.processor(topic, replay=replay) if (family := self.by_topic.get(topic)) else CountOnly()
            for topic in SOURCE_TOPICS
        }


def reports_of(families: Sequence[type[MetricFamily]]) -> list[Report]:
    """Every report of these families; names are unique (they are CLI subcommands)."""
    out = [report for family in families for report in family.reports]
    names = [r.name for r in out]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RegistryError(f"report names used twice: {', '.join(duplicated)}")
    return out
