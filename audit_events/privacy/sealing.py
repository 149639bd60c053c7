"""Personal data sealed in the stored record, and opened (or shown erased) when read.

At append, each value at an event's ``pii`` pointers (in a publisher's tenant; the portal's own
access audit is not sealed) is replaced by an envelope under its data subject's key
(``data_subject``, or the aggregate written ``TYPE:ID``). The record, and its hash, hold the envelope: destroying the key erases the value everywhere and every hash stays
valid. Reading opens envelopes for those who may see personal data, and shows
``{"erased": true}`` where the key is gone.
"""

from ..masking import replace_at_pointers
from .envelopes import is_envelope, open_value, seal_value
from .keys import keys_by_id, subject_keys

__all__ = ["ERASED", "KeyCache", "SubjectErasedError", "open_record", "open_sealed", "seal_content", "subject_of"]

ERASED = {"erased": True}


class SubjectErasedError(ValueError):
    """Personal data about a subject whose key was destroyed: it can no longer be stored."""


def subject_of(record: dict) -> str:
    """Whose personal data the event holds: its ``data_subject``, or its aggregate."""
    return record.get("data_subject") or f"{record['aggregate_type']}:{record['aggregate_id']}"


class KeyCache:
    """Keys looked up once per use (an append batch, a page, a report): by subject to seal, by
    id to open. Never kept longer: an erasure must take effect on the next read."""

    def __init__(self, using: str = "default"):
        self.using = using  # the database holding the keys: the events' own
        self._by_subject: dict[tuple[str, str], tuple[str, bytes] | None] = {}
        self._by_id: dict[str, bytes | None] = {}

    def preload(self, events) -> None:
        """Read (or make) the keys of every subject whose personal data ``events`` (``EventIn``)
        will seal, in a few queries."""
        pairs = {(e.tenant, e.data_subject or f"{e.aggregate_type}:{e.aggregate_id}") for e in events
                 if e.pii and not e.tenant.startswith("_")} - set(self._by_subject)
        for pair, found in subject_keys(pairs, using=self.using).items():
            self._by_subject[pair] = found
            if found is not None:
                self._by_id[found[0]] = found[1]

    def preload_sealed(self, records) -> None:
        """Read the keys every sealed value in ``records`` names, in a few queries (a page, an
        index batch), rather than one query per subject as values are opened."""
        kids = {kid for record in records if record.get("pii") for kid in _kids(record.get("payload"))}
        self._by_id.update(keys_by_id(kids - set(self._by_id), using=self.using))

    def for_subject(self, tenant: str, subject: str) -> tuple[str, bytes] | None:
        if (tenant, subject) not in self._by_subject:
            found = subject_keys({(tenant, subject)}, using=self.using)[(tenant, subject)]
            self._by_subject[(tenant, subject)] = found
            if found is not None:
                self._by_id[found[0]] = found[1]
        return self._by_subject[(tenant, subject)]

    def by_id(self, key_id: str) -> bytes | None:
        if key_id not in self._by_id:
            self._by_id.update(keys_by_id([key_id], using=self.using))
        return self._by_id[key_id]


def _kids(value):
    """The key ids of the envelopes in ``value``."""
    if is_envelope(value):
        yield value["kid"]
    elif isinstance(value, dict):
        for child in value.values():
            yield from _kids(child)
    elif isinstance(value, list):
        for child in value:
            yield from _kids(child)


def seal_content(content: dict, keys: KeyCache) -> dict:
    """``content`` (fresh, changed in place) with every value at its ``pii`` pointers sealed.
    A pointer inside a value sealed already needs nothing more."""
    pointers = content.get("pii") or []
    if not pointers or content["tenant"].startswith("_"):
        # The portal's own access audit (who read what, who signed in) is kept as the record of
        # access the law asks for: masked for those who may not see it, never shredded.
        return content
    subject = subject_of(content)
    found = keys.for_subject(content["tenant"], subject)
    if found is None:
        raise SubjectErasedError(f"{subject} of {content['tenant']} was erased: events with personal data about "
                                 "them can no longer be stored")
    key_id, key = found
    content["payload"] = replace_at_pointers(content["payload"], pointers, lambda value, pointer: seal_value(
        value, key=key, key_id=key_id, event_id=content["event_id"], pointer=pointer))
    return content


def open_sealed(value, keys: KeyCache):
    """``value`` with every envelope in it opened, or ``ERASED`` where its key is gone (a copy
    where anything changed; ``value`` itself when nothing is sealed)."""
    if is_envelope(value):
        key = keys.by_id(value["kid"])
        return dict(ERASED) if key is None else open_value(value, key=key)
    if isinstance(value, dict):
        opened = {k: open_sealed(v, keys) for k, v in value.items()}
        return value if all(opened[k] is value[k] for k in value) else opened
    if isinstance(value, list):
        opened = [open_sealed(v, keys) for v in value]
        return value if all(a is b for a, b in zip(opened, value)) else opened
    return value


def open_record(record: dict, keys: KeyCache) -> dict:
    """The record with its sealed values opened (the stored one itself when it holds none)."""
    if not record.get("pii"):
        return record
    payload = open_sealed(record.get("payload"), keys)
    return record if payload is record.get("payload") else {**record, "payload": payload}
