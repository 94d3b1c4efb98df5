"""One way to bring a stored event's state up to its class's current shape.

The event catalogue is a public schema: an event type, once stored, is reshaped
only by raising its ``class_version`` and adding a static ``upcast_vN_vN+1(state)``
to the class (the eventsourcing library's convention). Every reader of stored
events goes through :func:`upcast`: the write side's mapper
(``storage.mapper.ProtectingMapper``), the read side's fast decoder
(``projections.records.decode``, used by projections, rebuilds, report replays
and retention) and, through the mapper, exports and time travel. So no reader can
see an old shape after the class has moved on.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic, register_topic, resolve_topic

import lotse.domain

CLASS_VERSION = "class_version"

#: Until 0.1.0 installed its folders as one namespace (``lotse.domain``, ``lotse.api``,
#: ...), the domain was the top-level package ``domain``, and the topics stored then
#: say so: ``domain.participant:Participant.Registered``. The library resolves a topic
#: under a registered package by swapping the package, so every such topic (events,
#: and the aggregate topic inside each ``Created``) loads the class it named.
LEGACY_DOMAIN_PACKAGE = "domain"
register_topic(LEGACY_DOMAIN_PACKAGE, lotse.domain)


def stored_topics(cls: type[Any]) -> list[str]:
    """Every topic under which events of ``cls`` may be stored, for SQL that filters."""
    topic = get_topic(cls)
    topics = [topic]
    prefix = lotse.domain.__name__ + "."
    if topic.startswith(prefix):
        topics.append(LEGACY_DOMAIN_PACKAGE + "." + topic.removeprefix(prefix))
    return topics


def event_class(topic: str) -> type[Any]:
    """The class a stored topic names (registered old topics included)."""
    cls: type[Any] = resolve_topic(topic)
    return cls


def needs_upcast(cls: type[Any], stored_version: int) -> bool:
    return stored_version < getattr(cls, "class_version", 1)


def upcast(cls: type[Any], state: dict[str, Any], stored_version: int) -> None:
    """Run ``upcast_vN_vN+1`` in place from the stored version to the class's own."""
    current = getattr(cls, "class_version", 1)
    while stored_version < current:
        getattr(cls, f"upcast_v{stored_version}_v{stored_version + 1}")(state)
        stored_version += 1
