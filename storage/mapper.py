"""A mapper that seals identifying fields under the participant's own key.

Identifying fields (see ``domain.classification``) are moved out of the stored
event's JSON into one AES-256-GCM ciphertext, ``_sealed``, with the participant id
and the event version as associated data: ciphertext copied onto another row fails
to decrypt instead of showing someone else's data. The names of the sealed fields
stay readable (``_sealed_fields``) so that, once the key is destroyed, the event
still loads and shows those fields as erased (``None``).

Which fields are identifying has grown (occupations, instruments and the consent
language were statistical at first). Events stored before hold such a field in
clear: they load unchanged, and once the participant's key is destroyed the clear
value is hidden as erased as well (it stays in the stored row: see the README).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic

from lotse.domain.classification import identifying_changes, identifying_fields
from lotse.storage.keys import KeyDestroyedError, KeyRing
from lotse.storage.sealing import (
    SEALED,
    SEALED_CHANGES,
    SEALED_FIELDS,
    SealBrokenError,
    open_event,
    seal_event,
)
from lotse.storage.upcasting import CLASS_VERSION, event_class, upcast

#: Set on a loaded event whose key was destroyed: the names of its erased fields.
ERASED = "_erased"


class ProtectingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, keys: KeyRing, **kwargs: Any):
        super().__init__(transcoder=transcoder, **kwargs)
        self.keys = keys

    def _key_exists(self, participant_id: UUID) -> bool:
        try:
            self.keys.key_for_reading(participant_id)
        except KeyDestroyedError:
            return False
        return True

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        event_type = type(domain_event).__name__
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state[CLASS_VERSION] = class_version
        secret_fields = {
            k: state.pop(k) for k in identifying_fields(event_type) if state.get(k) is not None
        }
        secret_changes: dict[str, Any] = {}
        if isinstance(state.get("changes"), dict) and "corrected_type" in state:
            changes = dict(state["changes"])
            for k in identifying_changes(state["corrected_type"], changes):
                if changes[k] is not None:
                    secret_changes[k] = changes.pop(k)
            state["changes"] = changes
        if secret_fields or secret_changes:
            key = self.keys.key_for_writing(originator_id, first_event=version == 1)
            plaintext = self.transcoder.encode({"fields": secret_fields, "changes": secret_changes})
            state[SEALED] = seal_event(key, originator_id, version, plaintext)
            state[SEALED_FIELDS] = sorted(secret_fields)
            state[SEALED_CHANGES] = sorted(secret_changes)
        stored_state = self.transcoder.encode(state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=get_topic(type(domain_event)),
            state=stored_state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The library's decoding, with the sealed fields opened *before* upcasting.

        The library upcasts inside ``Mapper.to_domain_event``, which would hand an
        upcaster the event without its identifying fields (they are still sealed
        then). Here the state is decoded, opened, then upcast (``storage.upcasting``,
        the one path every reader shares), and only then becomes the event.
        """
        cls = event_class(stored_event.topic)
        stored_state = stored_event.state
        try:
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            state: dict[str, Any] = self.transcoder.decode(stored_state)
        except Exception as e:
            msg = (
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}', "
                f"originator_id '{stored_event.originator_id}' and "
                f"originator_version {stored_event.originator_version}: {type(e).__name__}"
            )
            raise MapperDeserialisationError(msg) from e
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        )
        state["originator_version"] = stored_event.originator_version
        self._open_sealed(state, cls.__name__)
        upcast(cls, state, state.pop(CLASS_VERSION, 1))
        event: DomainEventProtocol[UUID] = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _open_sealed(self, state: dict[str, Any], event_type: str) -> None:
        sealed = state.pop(SEALED, None)
        field_names = state.pop(SEALED_FIELDS, [])
        change_names = state.pop(SEALED_CHANGES, [])
        originator_id = state["originator_id"]
        # Identifying by today's classification but stored in clear (recorded before
        # the field was classified so): shown while the key exists, hidden after.
        in_clear = [name for name in identifying_fields(event_type) if state.get(name) is not None]
        if sealed is None:
            if in_clear and not self._key_exists(originator_id):
                for name in in_clear:
                    state[name] = None
                state[ERASED] = in_clear
            return
        version = state["originator_version"]
        try:
            key = self.keys.key_for_reading(originator_id)
        except KeyDestroyedError:
            # Erased: the event still loads, its identifying fields read as None.
            for name in (*field_names, *in_clear):
                state[name] = None
            if change_names:
                state["changes"] = {**state["changes"], **dict.fromkeys(change_names)}
            state[ERASED] = [
                *field_names,
                *in_clear,
                *(f"changes.{name}" for name in change_names),
            ]
            return
        try:
            plaintext = open_event(key, originator_id, version, sealed)
        except SealBrokenError:
            # Never fall back to showing anything: this ciphertext was made for
            # another row (or altered), so reading must fail loudly.
            msg = (
                f"sealed fields of event {version} of participant {originator_id} "
                "do not belong to this event: the stored row was altered"
            )
            raise MapperDeserialisationError(msg) from None
        secret = self.transcoder.decode(plaintext)
        # Sealed values always win over a clear value of the same name.
        state.update(secret["fields"])
        if secret["changes"]:
            state["changes"] = {**state["changes"], **secret["changes"]}
