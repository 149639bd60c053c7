#!/usr/bin/env python3
"""Verify one tenant's audit log against its signed checkpoints, offline.

    python verify.py --key BASE64 PACKAGE.zip
    python verify.py --keys keys.json [--checkpoint HELD.json ...] [--tenant T] [--full] [--allow-masked] PACKAGE

Needs Python 3.9 or newer, the ``cryptography`` package (Ed25519) and ``merkle.py`` beside
this file; nothing else, and no access to the portal. ``audit-verify`` is the same command
where the portal is installed. The public keys are pinned on the command line (``--key``,
or ``--keys`` in the format of ``GET /api/v1/checkpoints/keys``): keys found inside a package
are never trusted. A keys file's ``created_at`` and ``retired_at`` bound when each key may
have signed (``--key`` gives no dates, so none is checked). See docs/VERIFY.md.

THE VERIFICATION PACKAGE (a directory, or a ZIP of one; ``--within`` names a folder inside)

``manifest.json``
    ``{"tenant": T, "kind": "full" | "subset", "files": {name: hex SHA-256}}``; a subset
    package may add ``"not_covered": [event ids]`` (asked for, left out: no checkpoint
    covered them yet). A full package holds every event the newest checkpoint covers; a
    subset holds some (a report's evidence).
``checkpoints.jsonl``
    every checkpoint of the tenant, oldest first, one JSON document a line, as published:
    ``{"tenant", "tree_size", "root_hash", "previous", "time", "key_id", "signature"}``.
``events.jsonl``
    the events in leaf order, one a line:
    ``{"leaf_index": n, "hash": "<hex>", "record": "<the stored record>"}`` where
    ``record`` is the stored canonical JSON text of the event without its hash, carried as
    a JSON string, so its exact bytes survive: ``hash == sha256(bytes.fromhex(prev_hash) +
    record.encode("utf-8"))``. A subset line may add ``"masked": true``: the values at its
    record's ``pii`` pointers are replaced by ``{"masked": true}``, so the record no longer
    hashes to its hash. Only the hash is then proven (to be in the signed log); the record's
    form is checked (every ``pii`` pointer masked; its tenant the package's; its aggregate,
    sequence and prev_hash agreeing with the events it links to by hash), its content is
    not verified, nor its event id beyond the proof that names it.
``proofs.jsonl``
    one inclusion proof per event:
    ``{"event_id", "leaf_index", "tree_size", "audit_path": ["<hex>", ...]}`` against the
    root of the checkpoint of that ``tree_size`` (RFC 9162 §2.1.3).
``consistency.jsonl``
    one proof per pair of consecutive checkpoints: ``{"from": m, "to": n, "proof": [...]}``
    (RFC 9162 §2.1.4).

A leaf is ``SHA-256(0x00 ‖ the 32 bytes of the event's hash)`` (RFC 6962).

EXIT CODES. When several kinds of problem occur, every problem is listed and the exit code
is that of the first kind in this table:

    0   verified: every check held
    1   the verifier itself failed (a bug: Python prints a traceback)
    2   usage: bad arguments, no pinned key, an unreadable --keys or --checkpoint file,
        or the cryptography package is missing
    3   not a verifiable package: unreadable, manifest.json or a data file missing,
        another tenant's (--tenant), a subset where --full asks for the whole log, or no
        checkpoint in it
    10  unknown key: a checkpoint is signed by a key that is not among the pinned keys,
        or (a keys file with dates) by a pinned key after its retired_at, or by a key
        created before the key of an earlier checkpoint (a retired key signing again)
    11  bad signature: a checkpoint's signature does not verify with the pinned key it names
    12  checkpoint rollback: a later checkpoint is smaller, or does not extend the earlier
        one (its consistency proof fails), or differs from the one you hold at its size
        (another signing with the same root and previous is only a note)
    13  gap between checkpoints: a checkpoint's "previous" is not the hash of the one before
        it (one was removed), or a checkpoint you hold is missing from the package
    14  truncated log: a full package's events stop before the newest checkpoint's size,
        or the newest checkpoint is older than one you hold
    15  not in the signed log: an event's inclusion proof does not reach the signed root
        (inserted events, recomputed chains), or the leaves do not make a signed root
    16  not covered: an event lies beyond the newest checkpoint (no signature covers it)
    17  modified event: a record no longer hashes to its hash, or a masked record is not
        the stored one masked (a pii pointer without the mask; another tenant; an
        aggregate, sequence or prev_hash the events linked to it by hash contradict)
    18  deleted event: a chain gap (a sequence skipped, a prev_hash that is not the hash
        before it) or, in a full package, a leaf missing in the middle of the log
    19  reordered events: events out of leaf order, or an aggregate's sequences out of order
    20  damaged package: a file differs from manifest.json, or a line is malformed
    21  masked events not verified: the package holds masked events, whose content cannot
        be checked (only their hashes are in the signed log); --allow-masked accepts them
        and exits 0 if nothing else is wrong

CANONICAL JSON. Checkpoint signatures and ``previous`` hashes are over RFC 8785 (JCS)
bytes. This file carries the small part of JCS those documents need: objects, arrays,
strings, integers up to 2^53 - 1, true, false and null; a float in a checkpoint is refused
as malformed. Events need no JCS here: their stored canonical text is in the package.

WHAT IT DOES NOT PROVE. A subset package cannot show that no other event was deleted; no
package can show that nothing was cut after its newest checkpoint unless you hold a newer
checkpoint from elsewhere (``--checkpoint``: a copy from the archive, kept under S3 Object
Lock). Masked events' contents are not checked (exit 21 unless --allow-masked). A key's
dates in a keys file are the portal's word, and a checkpoint's time is the signer's.
"""

# Annotations stay strings, so the newer syntax in them does not stop an older Python.
from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import sys
import zipfile
import zlib
from collections import namedtuple

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # reported by main(), which names the package to install
    InvalidSignature = Ed25519PublicKey = None


def _load_merkle():
    """``merkle`` of the portal's package, else the ``merkle.py`` copied beside this file.

    By path rather than ``import merkle``: ``python -I`` (3.11+) leaves the script's folder off
    ``sys.path``, and a module of that name installed elsewhere must not stand in for it.
    """
    try:
        from . import merkle as module

        return module
    except ImportError:
        pass
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "merkle.py")
    spec = importlib.util.spec_from_file_location("merkle", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise ImportError(f"verify.py needs merkle.py beside it: {path} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


merkle = _load_merkle()

__all__ = ["KINDS", "PinnedKey", "Verification", "canonical_json", "key_id_of", "load_held", "load_keys", "main",
           "report", "verify_package"]

MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints.jsonl"
EVENTS = "events.jsonl"
PROOFS = "proofs.jsonl"
CONSISTENCY = "consistency.jsonl"
DATA_FILES = (CHECKPOINTS, EVENTS, PROOFS, CONSISTENCY)
GENESIS = "0" * 64
CHECKPOINT_FIELDS = ("tenant", "tree_size", "root_hash", "previous", "time", "key_id", "signature")
SHOWN_PER_KIND = 50
MAX_SAFE_INTEGER = 2**53 - 1
#: what masking puts in place of each value at a record's ``pii`` pointers
MASK = {"masked": True}

VERIFIED, USAGE, UNUSABLE = 0, 2, 3

Kind = namedtuple("Kind", "code name meaning")
#: The kinds of problem, in the order that picks the exit code (the first one found wins).
KINDS = (
    Kind(10, "unknown key", "a checkpoint is signed by a key you did not pin, or by a retired one"),
    Kind(11, "bad signature", "a checkpoint's signature does not verify"),
    Kind(12, "checkpoint rollback", "the signed log shrank or was rewritten"),
    Kind(13, "gap between checkpoints", "a checkpoint was removed"),
    Kind(14, "truncated log", "events at the end of the log are missing"),
    Kind(15, "not in the signed log", "events are not those the checkpoints signed"),
    Kind(16, "not covered", "events lie beyond the newest checkpoint"),
    Kind(17, "modified event", "a record was changed after it was hashed"),
    Kind(18, "deleted event", "an event is missing from a chain or from the log"),
    Kind(19, "reordered events", "events are out of order"),
    Kind(20, "damaged package", "a file or line of the package is damaged"),
    Kind(21, "masked events not verified", "masked events' content cannot be checked, only their hashes"),
)
(UNKNOWN_KEY, BAD_SIGNATURE, ROLLBACK, GAP, TRUNCATED, NOT_IN_LOG, NOT_COVERED, MODIFIED, DELETED,
 REORDERED, DAMAGED, MASKED) = (kind.code for kind in KINDS)
_KIND_BY_CODE = {kind.code: kind for kind in KINDS}

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
#: what reading a damaged file or ZIP entry may raise
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError)
#: what parsing hostile JSON may raise (nesting deep enough to exhaust the stack included)
_PARSE_ERRORS = (ValueError, RecursionError)


class PackageError(Exception):
    """The package cannot be verified at all (exit 3)."""


class UsageError(Exception):
    """The command line, a keys file or a held checkpoint is wrong (exit 2)."""


# -- canonical JSON (the part of RFC 8785 checkpoints need) ------------------------------------


def canonical_json(value) -> bytes:
    """RFC 8785 bytes of ``value``: objects, arrays, strings, integers within ±(2^53 − 1),
    true, false, null. Anything else (floats included) raises ``ValueError``."""
    return _jcs(value).encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError


def _jcs(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is beyond 2^53 - 1: this minimal JCS does not format it")
        return str(value)
    if type(value) is str:
        # json.dumps escapes exactly what JCS escapes: " \ and the controls (\b \f \n \r \t by
        # name, the others as lowercase \u00xx), leaving the rest as UTF-8.
        return json.dumps(value, ensure_ascii=False)
    if type(value) is list:
        return "[" + ",".join(_jcs(item) for item in value) + "]"
    if type(value) is dict:
        if not all(type(key) is str for key in value):
            raise ValueError("object keys must be strings")
        keys = sorted(value, key=lambda key: key.encode("utf-16-be"))  # JCS sorts by UTF-16 units
        return "{" + ",".join(json.dumps(key, ensure_ascii=False) + ":" + _jcs(value[key]) for key in keys) + "}"
    raise ValueError(f"a {type(value).__name__} is not supported by this minimal JCS (checkpoints hold none)")


def _checkpoint_hash(document: dict) -> str:
    """What the next checkpoint's ``previous`` names: SHA-256 of this one's JCS."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _signed_part(document: dict) -> bytes:
    return canonical_json({key: value for key, value in document.items() if key != "signature"})


# -- pinned keys -------------------------------------------------------------------------------


#: A pinned key: its Ed25519 public key, and when it was made and retired (aware datetimes, or
#: None: not stated). A keys file states both; ``--key`` neither.
PinnedKey = namedtuple("PinnedKey", "public_key created_at retired_at")


def key_id_of(public_key: bytes) -> str:
    """A key's id as the portal names it: the first 16 hex digits of SHA-256 of the raw key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _public_key(text, where: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise UsageError(f"{where}: not a base64 raw Ed25519 public key (32 bytes)")
    return raw


def _instant(text) -> datetime.datetime | None:
    """An RFC 3339 date-time with an offset (``Z`` or ``±hh:mm``) as an aware datetime, else None."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return value if value.utcoffset() is not None else None


def _key_date(entry: dict, field: str, where: str) -> datetime.datetime | None:
    if entry.get(field) is None:
        return None
    value = _instant(entry[field])
    if value is None:
        raise UsageError(f"{where}: {field} {entry[field]!r} is not a date-time with an offset "
                         "(such as 2026-11-27T06:00:00+00:00), nor null")
    return value


def load_keys(keys: list[str] = (), keys_file: str | None = None) -> dict:
    """The pinned keys as ``{key_id: PinnedKey}``; ids computed here, never taken on trust.

    A keys file's dates are kept (a key listed there and with ``--key`` too keeps them)."""
    pinned = {}
    for text in keys:
        raw = _public_key(text, f"--key {text!r}")
        pinned[key_id_of(raw)] = PinnedKey(Ed25519PublicKey.from_public_bytes(raw), None, None)
    if keys_file is not None:
        try:
            with open(keys_file, "rb") as stream:
                listed = json.loads(stream.read().decode("utf-8"))["keys"]
            if not isinstance(listed, list):
                raise TypeError("'keys' is not a list")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--keys {keys_file}: not a keys file like GET /api/v1/checkpoints/keys "
                             f"answers, {{\"keys\": [...]}} ({exc})") from None
        for number, entry in enumerate(listed, start=1):
            where = f"--keys {keys_file}, key {number}"
            if not isinstance(entry, dict):
                raise UsageError(f"{where}: not an object")
            if entry.get("algorithm", "ed25519") != "ed25519":
                raise UsageError(f"{where}: algorithm {entry.get('algorithm')!r}; only ed25519 is known")
            raw = _public_key(entry.get("public_key"), where)
            if "key_id" in entry and entry["key_id"] != key_id_of(raw):
                raise UsageError(f"{where}: key_id {entry['key_id']!r} is not that of its public key "
                                 f"({key_id_of(raw)}): the file is inconsistent")
            created, retired = _key_date(entry, "created_at", where), _key_date(entry, "retired_at", where)
            if created is not None and retired is not None and retired < created:
                raise UsageError(f"{where}: retired_at {entry['retired_at']} is before created_at "
                                 f"{entry['created_at']}: the file is inconsistent")
            pinned[key_id_of(raw)] = PinnedKey(Ed25519PublicKey.from_public_bytes(raw), created, retired)
    if not pinned:
        raise UsageError("pin at least one public key with --key or --keys, obtained out of band "
                         "(GET /api/v1/checkpoints/keys): keys inside a package are never trusted")
    return pinned


def load_held(paths: list[str]) -> list[tuple[str, dict]]:
    """Checkpoints the auditor holds from elsewhere (as published, or an archive copy)."""
    held = []
    for path in paths:
        try:
            with open(path, "rb") as stream:
                document = json.loads(stream.read().decode("utf-8"), object_pairs_hook=_no_repeats)
        except (OSError,) + _PARSE_ERRORS as exc:
            raise UsageError(f"--checkpoint {path}: cannot be read as JSON ({exc})") from None
        error = _checkpoint_error(document)
        if error:
            raise UsageError(f"--checkpoint {path}: not a checkpoint ({error})")
        held.append((path, document))
    return held


# -- reading a package ------------------------------------------------------------------------


class _ZipSource:
    def __init__(self, path: str, within: str):
        self.zip = zipfile.ZipFile(path)
        self.within = within
        self.entries, self.repeated = {}, set()
        for info in self.zip.infolist():
            if info.is_dir() or not info.filename.startswith(within):
                continue
            name = info.filename[len(within):]
            if name in self.entries:
                self.repeated.add(name)
            self.entries[name] = info

    @property
    def names(self):
        return set(self.entries)

    def open(self, name: str):
        return self.zip.open(self.entries[name])


class _DirectorySource:
    def __init__(self, path: str, within: str):
        self.root = os.path.join(path, *within.split("/")) if within else path
        if not os.path.isdir(self.root):
            raise OSError(f"no folder {within!r} in {path}")
        self.repeated = set()

    @property
    def names(self):
        return {name for name in os.listdir(self.root) if os.path.isfile(os.path.join(self.root, name))}

    def open(self, name: str):
        return open(os.path.join(self.root, name), "rb")


def _open_package(path: str, within: str):
    within = within.strip("/") + "/" if within.strip("/") else ""
    if os.path.isdir(path):
        return _DirectorySource(path, within)
    return _ZipSource(path, within)


def _no_repeats(pairs):
    """A JSON object hook refusing a member named twice (two readers could see two values)."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"member {key!r} appears twice")
        seen[key] = value
    return seen


def _parse(line: bytes):
    return json.loads(line.decode("utf-8"), object_pairs_hook=_no_repeats)


def _is_count(value, least: int = 0) -> bool:
    return type(value) is int and value >= least


def _is_hex64(value) -> bool:
    return isinstance(value, str) and _HEX64.match(value) is not None


def _checkpoint_error(document) -> str | None:
    if not isinstance(document, dict):
        return "not a JSON object"
    missing = [field for field in CHECKPOINT_FIELDS if field not in document]
    if missing:
        return "missing " + ", ".join(missing)
    for field in ("tenant", "time", "key_id", "signature"):
        if not isinstance(document[field], str):
            return f"{field} is not text"
    if not _is_count(document["tree_size"], 1):
        return "tree_size is not a positive integer"
    if not _is_hex64(document["root_hash"]):
        return "root_hash is not 64 lowercase hex digits"
    if document["previous"] is not None and not _is_hex64(document["previous"]):
        return "previous is neither null nor 64 lowercase hex digits"
    try:
        canonical_json(document)
    except _PARSE_ERRORS as exc:
        return f"no canonical form ({exc})"
    return None


def _hex_list(value):
    """``value`` as a list of 32-byte hashes, or None if it is not a list of hex hashes."""
    if not isinstance(value, list) or not all(_is_hex64(item) for item in value):
        return None
    return [bytes.fromhex(item) for item in value]


_MISSING = object()


def _at_pointer(document, pointer: str):
    """The value at an RFC 6901 pointer into ``document``, or ``_MISSING``."""
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if type(document) is dict and token in document:
            document = document[token]
        elif type(document) is list and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(document):
            document = document[int(token)]
        else:
            return _MISSING
    return document


def _masking_error(record: dict) -> str | None:
    """What is wrong with a masked record's form, or None: masking replaces the value at each
    of its ``pii`` pointers by ``{"masked": true}`` (a pointer inside a masked value is gone with
    it), so every pointer must lead there."""
    pointers = record.get("pii")
    if not isinstance(pointers, list) or not pointers:
        return "its pii lists no personal data, and a record without personal data is never masked"
    if not all(isinstance(pointer, str) and pointer.startswith("/") for pointer in pointers):
        return "its pii holds something other than JSON Pointers into the payload"
    masked = []
    for pointer in sorted(pointers, key=len):  # an enclosing pointer before those inside it
        if any(pointer.startswith(outer + "/") for outer in masked):
            continue
        value = _at_pointer(record.get("payload"), pointer)
        if value is _MISSING:
            return f"its personal data at {pointer} is missing"
        if not (type(value) is dict and len(value) == 1 and value.get("masked") is True):
            return f"its personal data at {pointer} is not {json.dumps(MASK)}"
        masked.append(pointer)
    return None


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "es" if noun.endswith("sh") else "s")


def _ranges(indices: list[int]) -> str:
    """``[3, 4, 5, 9]`` as ``3-5, 9`` (the first ten ranges)."""
    ranges, start = [], None
    for position, index in enumerate(indices):
        if start is None:
            start = index
        if position + 1 == len(indices) or indices[position + 1] != index + 1:
            ranges.append(str(start) if start == index else f"{start}-{index}")
            start = None
    return ", ".join(ranges[:10]) + (f" and {len(ranges) - 10} more ranges" if len(ranges) > 10 else "")


class _Event:
    """What the checks keep of one event line (a few hundred bytes)."""

    __slots__ = ("line", "event_id", "leaf_index", "hash", "aggregate", "sequence", "prev_hash", "masked",
                 "proof")

    def __init__(self, line, event_id, leaf_index, digest, aggregate, sequence, prev_hash, masked):
        self.line, self.event_id, self.leaf_index, self.hash = line, event_id, leaf_index, digest
        self.aggregate, self.sequence, self.prev_hash, self.masked = aggregate, sequence, prev_hash, masked
        self.proof = None  # None: no proof seen yet; True: verified; False: failed (and reported)

    def __str__(self):
        return (f"event {self.event_id} ({self.aggregate[1]}/{self.aggregate[2]} sequence {self.sequence}, "
                f"leaf {self.leaf_index}, {EVENTS} line {self.line})")


# -- the checks -------------------------------------------------------------------------------


class Verification:
    """Checks one package against pinned keys (and checkpoints held from elsewhere)."""

    def __init__(self, keys: dict, *, held: list[tuple[str, dict]] = (), tenant: str | None = None,
                 full: bool = False, allow_masked: bool = False):
        # A bare public key (the older form of ``keys``) is a key without dates.
        self.keys = {key_id: key if isinstance(key, PinnedKey) else PinnedKey(key, None, None)
                     for key_id, key in keys.items()}
        self.held = list(held)
        self.expected_tenant = tenant
        self.require_full = full
        self.allow_masked = allow_masked
        self.problems: list[tuple[int, str]] = []
        self.notes: list[str] = []
        self.fatal: str | None = None
        self.source = None
        self.tenant = self.kind = None
        self.manifest: dict = {}
        self.checkpoints: list[tuple[int, dict]] = []  # (line, document), as listed
        self.by_size: dict[int, dict] = {}
        self.events: dict[str, _Event] = {}
        self._aggregates: dict[tuple, tuple] = {}  # one tuple per aggregate, shared by its events
        self.counts = dict(signatures=0, consistency=0, events=0, recomputed=0, masked=0, proofs=0, links=0,
                           roots=0, held=0)

    def problem(self, code: int, text: str) -> None:
        self.problems.append((code, text))

    @property
    def exit_code(self) -> int:
        if self.fatal is not None:
            return UNUSABLE
        codes = {code for code, _ in self.problems}
        return next((kind.code for kind in KINDS if kind.code in codes), VERIFIED)

    @property
    def newest(self) -> dict | None:
        return self.by_size[max(self.by_size)] if self.by_size else None

    def run(self, source) -> None:
        self.source = source
        try:
            self.read_manifest()
            self.read_checkpoints()
            for path, document in self.held:
                if document["tenant"] != self.tenant:
                    raise PackageError(f"--checkpoint {path} is of tenant {document['tenant']!r}, the package of "
                                       f"{self.tenant!r}: compare checkpoints of one tenant")
            self.check_checkpoints()
            self.check_held()
            self.read_events()
            self.check_proofs()
            self.check_chains()
            self.check_masked()
            if self.kind == "full":
                self.check_leaves()
        except PackageError as exc:
            self.fatal = str(exc)

    # -- the manifest and the files

    def read_manifest(self) -> None:
        names = self.source.names
        if MANIFEST not in names:
            raise PackageError(f"{MANIFEST} is missing: this is not a verification package "
                               "(or --within names the wrong folder)")
        try:
            with self.source.open(MANIFEST) as stream:
                manifest = _parse(stream.read())
            if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
                raise ValueError("no 'files' object")
        except _PARSE_ERRORS + _READ_ERRORS as exc:
            raise PackageError(f"{MANIFEST} is unreadable ({exc})") from None
        self.manifest, self.tenant, self.kind = manifest, manifest.get("tenant"), manifest.get("kind")
        if not isinstance(self.tenant, str) or not self.tenant:
            raise PackageError(f"{MANIFEST} names no tenant")
        if self.kind not in ("full", "subset"):
            raise PackageError(f"{MANIFEST}: kind is {self.kind!r}, not 'full' or 'subset'")
        if self.expected_tenant is not None and self.tenant != self.expected_tenant:
            raise PackageError(f"the package is of tenant {self.tenant!r}, not {self.expected_tenant!r} (--tenant)")
        if self.require_full and self.kind != "full":
            raise PackageError(f"{MANIFEST} calls the package a {self.kind}, and --full asks for the whole log: "
                               "a subset cannot show that no event was left out")
        for name in sorted(self.source.repeated):
            self.problem(DAMAGED, f"{name} appears more than once in the ZIP file (readers may see different ones)")
        files = manifest["files"]
        for name in DATA_FILES:
            if name not in names:
                raise PackageError(f"{name} is missing from the package")
            if name not in files:
                self.problem(DAMAGED, f"{name} is not listed in {MANIFEST}")
                continue
            actual = self._sha256(name)
            if actual != files[name]:
                self.problem(DAMAGED, f"{name}: its SHA-256 is {actual} but {MANIFEST} says {files[name]} "
                                      "(the file was changed after the package was made)")
        unlisted = sorted(names - set(files) - {MANIFEST})
        if unlisted:
            self.notes.append(f"not part of the package, ignored: {', '.join(unlisted)} (keys inside a "
                              "package are never used)")
        not_covered = manifest.get("not_covered")
        if isinstance(not_covered, list) and not_covered:
            self.notes.append(f"{_plural(len(not_covered), 'requested event')} left out by the portal: no "
                              "checkpoint covered them yet when the package was made")

    def _sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        try:
            with self.source.open(name) as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
        except _READ_ERRORS as exc:
            raise PackageError(f"{name} cannot be read ({exc})") from None
        return digest.hexdigest()

    def _lines(self, name: str):
        """``(line number, parsed JSON)`` of a JSON Lines file; malformed lines are problems."""
        try:
            with self.source.open(name) as stream:
                for number, line in enumerate(stream, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield number, _parse(line)
                    except _PARSE_ERRORS as exc:
                        self.problem(DAMAGED, f"{name} line {number}: not JSON ({exc})")
        except _READ_ERRORS as exc:
            raise PackageError(f"{name} cannot be read ({exc})") from None

    # -- checkpoints

    def read_checkpoints(self) -> None:
        for number, document in self._lines(CHECKPOINTS):
            error = _checkpoint_error(document)
            if error:
                self.problem(DAMAGED, f"{CHECKPOINTS} line {number}: not a checkpoint ({error})")
            elif document["tenant"] != self.tenant:
                self.problem(DAMAGED, f"{CHECKPOINTS} line {number}: a checkpoint of tenant "
                                      f"{document['tenant']!r} in a package of {self.tenant!r}")
            else:
                self.checkpoints.append((number, document))
                self.by_size.setdefault(document["tree_size"], document)
        if not self.checkpoints:
            raise PackageError(f"{CHECKPOINTS} holds no checkpoint of {self.tenant!r}: nothing to verify against")

    def check_signature(self, document: dict, where: str) -> bool:
        key_id = document["key_id"]
        key = self.keys.get(key_id)
        if key is None:
            self.problem(UNKNOWN_KEY, f"{where}: signed by key {key_id}, which is not among the "
                                      f"pinned keys ({', '.join(sorted(self.keys))})")
            return False
        try:
            signature = base64.b64decode(document["signature"], validate=True)
            key.public_key.verify(signature, _signed_part(document))
        except (binascii.Error, ValueError, InvalidSignature):
            self.problem(BAD_SIGNATURE, f"{where}: its signature does not verify with pinned key "
                                        f"{key_id} (the checkpoint was altered or forged)")
            return False
        if key.retired_at is not None:
            signed_at = _instant(document["time"])
            retired = key.retired_at.isoformat()
            if signed_at is None:
                self.problem(UNKNOWN_KEY, f"{where}: signed by key {key_id}, retired at {retired}, and its time "
                                          f"{document['time']!r} is not a date-time: nothing shows it was signed "
                                          "before the key's retirement")
                return False
            if signed_at > key.retired_at:
                self.problem(UNKNOWN_KEY, f"{where}: signed by key {key_id} at {document['time']}, after the key's "
                                          f"retirement at {retired}: a retired key signs nothing (the checkpoint "
                                          "was forged with an old key, or a signer still uses it)")
                return False
        return True

    def _check_key_order(self, document: dict, newest_key: tuple | None, where: str) -> tuple | None:
        """After a rotation only the new key signs: a checkpoint signed by a key made before the
        key of an earlier checkpoint is a retired key signing again (perhaps backdated).
        ``newest_key`` is ``(created_at, key_id, size)`` of the newest key seen so far."""
        key = self.keys.get(document["key_id"])
        if key is None or key.created_at is None:
            return newest_key
        if newest_key is not None and key.created_at < newest_key[0]:
            self.problem(UNKNOWN_KEY, f"{where}: signed by key {document['key_id']} (created "
                                      f"{key.created_at.isoformat()}), but the checkpoint at size {newest_key[2]} "
                                      f"before it was signed by the newer key {newest_key[1]} (created "
                                      f"{newest_key[0].isoformat()}): a key is retired when a newer one signs, so "
                                      "this checkpoint was signed by a retired key")
            return newest_key
        return (key.created_at, document["key_id"], document["tree_size"])

    def check_checkpoints(self) -> None:
        consistency = self._consistency_proofs()
        before = newest_key = None
        for number, document in self.checkpoints:
            size = document["tree_size"]
            where = f"checkpoint at size {size} ({CHECKPOINTS} line {number})"
            if self.check_signature(document, where):
                self.counts["signatures"] += 1
                newest_key = self._check_key_order(document, newest_key, where)
            if before is None:
                if document["previous"] is not None:
                    self.problem(GAP, f"{where}: the first checkpoint of the package names a previous one "
                                      f"({document['previous']}): earlier checkpoints were removed")
            else:
                old_size = before["tree_size"]
                expected = _checkpoint_hash(before)
                if document["previous"] != expected:
                    self.problem(GAP, f"{where}: its previous is {document['previous']}, but the checkpoint "
                                      f"before it (size {old_size}) hashes to {expected}: a checkpoint between "
                                      "them was removed or replaced")
                if size <= old_size:
                    self.problem(ROLLBACK, f"{where}: follows a checkpoint at size {old_size}; a log only grows "
                                           "(the log was rolled back)")
                else:
                    self._check_consistency(before, document, consistency, where)
            before = document

    def _consistency_proofs(self) -> dict:
        proofs = {}
        for number, entry in self._lines(CONSISTENCY):
            path = _hex_list(entry.get("proof")) if isinstance(entry, dict) else None
            if path is None or not _is_count(entry.get("from"), 1) or not _is_count(entry.get("to"), 1):
                self.problem(DAMAGED, f"{CONSISTENCY} line {number}: not {{from, to, proof: [hex]}}")
                continue
            proofs.setdefault((entry["from"], entry["to"]), path)
        return proofs

    def _check_consistency(self, old: dict, new: dict, proofs: dict, where: str) -> None:
        old_size, new_size = old["tree_size"], new["tree_size"]
        proof = proofs.get((old_size, new_size))
        if proof is None:
            self.problem(ROLLBACK, f"{where}: {CONSISTENCY} holds no proof that it extends the checkpoint at size "
                                   f"{old_size}: nothing shows the log was not rewritten between them")
        elif merkle.verify_consistency(old_size, new_size, bytes.fromhex(old["root_hash"]),
                                       bytes.fromhex(new["root_hash"]), proof):
            self.counts["consistency"] += 1
        else:
            self.problem(ROLLBACK, f"{where}: does not extend the checkpoint at size {old_size} (the consistency "
                                   "proof fails): the log was rewritten or rolled back between them")

    def check_held(self) -> None:
        newest = self.newest["tree_size"]
        for path, document in self.held:
            size = document["tree_size"]
            where = f"your checkpoint at size {size} ({path})"
            self.counts["held"] += 1
            self.check_signature(document, where)
            listed = self.by_size.get(size)
            if listed is not None:
                if canonical_json(listed) == canonical_json(document):
                    continue
                if (listed["root_hash"], listed["previous"]) == (document["root_hash"], document["previous"]):
                    # An archive copy of a signing whose transaction failed, the size signed again.
                    self.notes.append(f"{where} is another signing of the package's checkpoint at that size (time "
                                      f"{document['time']}, the package's {listed['time']}): the same root and "
                                      "previous checkpoint, so the same log")
                else:
                    self.problem(ROLLBACK, f"{where}: the package's checkpoint at that size differs from it: "
                                           "the log was forked or rewritten")
            elif size > newest:
                self.problem(TRUNCATED, f"{where}: the package's newest checkpoint is at size {newest}: the log "
                                        "was cut back (or the package is older than your checkpoint)")
            else:
                self.problem(GAP, f"{where}: it is not among the package's checkpoints: it was removed")

    # -- events and their proofs

    def read_events(self) -> None:
        newest = self.newest["tree_size"]
        last_leaf = last_line = None
        for number, entry in self._lines(EVENTS):
            event = self._event(number, entry)
            if event is None:
                continue
            self.counts["events"] += 1
            if event.event_id in self.events:
                self.problem(DAMAGED, f"{event}: the same event is on line {self.events[event.event_id].line}")
                continue
            self.events[event.event_id] = event
            if last_leaf is not None and event.leaf_index <= last_leaf:
                self.problem(REORDERED, f"{event}: comes after leaf {last_leaf} ({EVENTS} line {last_line}); "
                                        "events are listed in leaf order")
            last_leaf, last_line = event.leaf_index, number
            if event.leaf_index >= newest:
                self.problem(NOT_COVERED, f"{event}: no checkpoint covers it (the newest signs {newest} events)")

    def _event(self, number: int, entry) -> _Event | None:
        where = f"{EVENTS} line {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("record"), str):
            self.problem(DAMAGED, f"{where}: not {{leaf_index, hash, record}}")
            return None
        if not _is_count(entry.get("leaf_index")) or not _is_hex64(entry.get("hash")):
            self.problem(DAMAGED, f"{where}: leaf_index is not a whole number or hash not 64 lowercase hex digits")
            return None
        text = entry["record"]
        try:
            data = text.encode("utf-8")  # a lone surrogate (from a \ud800 escape) has no UTF-8 form
            record = json.loads(text, object_pairs_hook=_no_repeats)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except _PARSE_ERRORS as exc:
            self.problem(MODIFIED, f"{where}: its record is not a JSON object ({exc}): the event was changed")
            return None
        fields = ("event_id", "tenant", "aggregate_type", "aggregate_id")
        if not all(isinstance(record.get(field), str) for field in fields) or not _is_count(
                record.get("sequence"), 1) or not _is_hex64(record.get("prev_hash")):
            self.problem(MODIFIED, f"{where}: its record lacks an event_id, tenant, aggregate, sequence or "
                                   "prev_hash: the event was changed")
            return None
        marked = entry.get("masked") is True
        masked = marked and self.kind == "subset"
        aggregate = (record["tenant"], record["aggregate_type"], record["aggregate_id"])
        event = _Event(number, record["event_id"], entry["leaf_index"], entry["hash"],
                       self._aggregates.setdefault(aggregate, aggregate), record["sequence"], record["prev_hash"],
                       masked)
        if record["tenant"] != self.tenant:
            self.problem(MODIFIED if masked else NOT_IN_LOG,
                         f"{event}: it is of tenant {record['tenant']!r}, and this is the log of {self.tenant!r}"
                         + (": its masked record was changed" if masked else ""))
        if marked and not masked:
            self.problem(MODIFIED, f"{event}: marked masked in a full package, so its content cannot be checked "
                                   "(a full package holds events exactly as stored)")
        elif masked:
            self.counts["masked"] += 1
            error = _masking_error(record)
            if error:
                self.problem(MODIFIED, f"{event}: marked masked, but {error}: this is not the stored record "
                                       "masked, it was changed")
        else:
            recomputed = hashlib.sha256(bytes.fromhex(event.prev_hash) + data).hexdigest()
            if recomputed == event.hash:
                self.counts["recomputed"] += 1
            else:
                self.problem(MODIFIED, f"{event}: its record hashes to {recomputed}, not to its hash "
                                       f"{event.hash}: the event was changed after it was hashed")
        return event

    def check_proofs(self) -> None:
        newest = self.newest["tree_size"]
        for number, entry in self._lines(PROOFS):
            where = f"{PROOFS} line {number}"
            path = _hex_list(entry.get("audit_path")) if isinstance(entry, dict) else None
            if path is None or not isinstance(entry.get("event_id"), str) or not _is_count(
                    entry.get("leaf_index")) or not _is_count(entry.get("tree_size"), 1):
                self.problem(DAMAGED, f"{where}: not {{event_id, leaf_index, tree_size, audit_path: [hex]}}")
                continue
            event = self.events.get(entry["event_id"])
            if event is None:
                self.problem(DAMAGED, f"{where}: a proof for event {entry['event_id']}, which {EVENTS} does not hold")
                continue
            if event.proof is not None or event.leaf_index >= newest:
                continue  # one proof per event; one beyond every checkpoint is reported already
            size = entry["tree_size"]
            checkpoint = self.by_size.get(size)
            event.proof = False
            if entry["leaf_index"] != event.leaf_index:
                self.problem(NOT_IN_LOG, f"{event}: its proof ({where}) is for leaf {entry['leaf_index']}")
            elif checkpoint is None:
                self.problem(NOT_IN_LOG, f"{event}: its proof ({where}) is against size {size}, which no "
                                         "checkpoint in the package signs")
            elif merkle.verify_inclusion(merkle.leaf_hash(bytes.fromhex(event.hash)), event.leaf_index, size, path,
                                         bytes.fromhex(checkpoint["root_hash"])):
                event.proof = True
                self.counts["proofs"] += 1
            else:
                self.problem(NOT_IN_LOG, f"{event}: its inclusion proof does not reach the root signed at size "
                                         f"{size}: the event is not in the signed log at that place (inserted, "
                                         "moved, or its hash recomputed)")
        for event in self.events.values():
            if event.proof is None and event.leaf_index < newest:
                self.problem(NOT_IN_LOG, f"{event}: {PROOFS} holds no inclusion proof for it")

    # -- chains, leaves and roots

    def check_chains(self) -> None:
        chains: dict[tuple, list[_Event]] = {}
        for event in self.events.values():  # in the file's order
            chains.setdefault(event.aggregate, []).append(event)
        full = self.kind == "full"
        for aggregate, events in chains.items():
            name = "/".join(aggregate[1:])
            by_leaf = sorted(events, key=lambda e: e.leaf_index)
            for earlier, later in zip(by_leaf, by_leaf[1:]):
                if later.sequence <= earlier.sequence:
                    self.problem(REORDERED, f"{name}: sequence {later.sequence} (leaf {later.leaf_index}) is in "
                                            f"the log after sequence {earlier.sequence} (leaf {earlier.leaf_index})")
            by_sequence = sorted(events, key=lambda e: (e.sequence, e.line))
            first = by_sequence[0]
            if first.sequence == 1 and first.prev_hash != GENESIS and not first.masked:  # see check_masked
                self.problem(DELETED, f"{first}: sequence 1 has prev_hash {first.prev_hash}, not 64 zeros: "
                                      "the chain does not start here")
            elif full and first.sequence > 1:
                self.problem(DELETED, f"{name}: its chain starts at sequence {first.sequence}: sequences "
                                      f"1-{first.sequence - 1} are missing (deleted)")
            for earlier, later in zip(by_sequence, by_sequence[1:]):
                if later.sequence == earlier.sequence:
                    self.problem(DELETED, f"{later}: {earlier} has the same sequence: the chain forks")
                elif later.sequence == earlier.sequence + 1:
                    self.counts["links"] += 1
                    if later.prev_hash == earlier.hash:
                        continue
                    if earlier.masked or later.masked:  # its aggregate, sequence or prev_hash may be forged
                        self.problem(MODIFIED, f"{later}: its prev_hash is {later.prev_hash}, but the "
                                               f"{earlier} hashes to {earlier.hash}: a masked "
                                               "record's aggregate, sequence or prev_hash was changed (or the chain "
                                               "is broken)")
                    else:
                        self.problem(DELETED, f"{later}: its prev_hash is {later.prev_hash}, but sequence "
                                              f"{earlier.sequence} hashes to {earlier.hash}: the chain is broken "
                                              "(an event between them was deleted or replaced)")
                elif full:
                    missing = f"{earlier.sequence + 1}-{later.sequence - 1}" if later.sequence > earlier.sequence + 2 \
                        else str(earlier.sequence + 1)
                    self.problem(DELETED, f"{name}: the chain jumps from sequence {earlier.sequence} (leaf "
                                          f"{earlier.leaf_index}) to {later.sequence} (leaf {later.leaf_index}): "
                                          f"sequence {missing} is missing (deleted)")

    def check_masked(self) -> None:
        """A masked record cannot be rehashed, but its hash is proven, and so is each hash that
        links to it: what the record says of its place (aggregate, sequence, prev_hash) must agree
        with the events on either side of it. Then, unless allowed, it is reported unverified."""
        masked = [event for event in self.events.values() if event.masked]
        if not masked:
            return
        hashes, previous = {event.hash for event in masked}, {event.prev_hash for event in masked}
        after, before = {}, {}  # a masked event's hash -> the event naming it as prev_hash; and back
        for event in self.events.values():
            if event.prev_hash in hashes:
                after.setdefault(event.prev_hash, event)
            if event.hash in previous:
                before.setdefault(event.hash, event)
        for event in masked:
            if (event.sequence == 1) != (event.prev_hash == GENESIS):
                self.problem(MODIFIED, f"{event}: a masked record of sequence {event.sequence} with prev_hash "
                                       f"{event.prev_hash}: only sequence 1 follows 64 zeros, so its sequence or "
                                       "prev_hash was changed")
            neighbours = ((after.get(event.hash), 1, "names this event's hash as its prev_hash"),
                          (before.get(event.prev_hash), -1, "is the event whose hash its prev_hash names"))
            for neighbour, step, relation in neighbours:
                if neighbour is None or neighbour is event:
                    continue
                if (neighbour.aggregate, neighbour.sequence) != (event.aggregate, event.sequence + step):
                    self.problem(MODIFIED, f"{event}: {neighbour} {relation}, so this event is "
                                           f"{'/'.join(neighbour.aggregate[1:])} sequence {neighbour.sequence - step}: "
                                           "its masked record's aggregate or sequence was changed")
        if not self.allow_masked:
            for event in masked:
                self.problem(MASKED, f"{event}: masked: only its hash is proven to be in the signed log; its "
                                     "content is not verified")

    def check_leaves(self) -> None:
        """A full package: every leaf below the newest size present, and every signed root remade."""
        newest = self.newest["tree_size"]
        leaves = []  # the first event at each leaf index below newest, in leaf order
        for event in sorted(self.events.values(), key=lambda e: (e.leaf_index, e.line)):
            if event.leaf_index < newest and (not leaves or leaves[-1].leaf_index != event.leaf_index):
                leaves.append(event)
        present = [event.leaf_index for event in leaves]
        top = present[-1] if present else -1
        if len(present) != top + 1:
            held = set(present)
            missing = [index for index in range(top) if index not in held]
            self.problem(DELETED, f"{EVENTS}: {_plural(len(missing), 'leaf')} missing in the middle of the log "
                                  f"(leaf {_ranges(missing)}): events were deleted")
        if not present:
            self.problem(TRUNCATED, f"{EVENTS}: holds none of the {newest} events the newest checkpoint signs "
                                    "(the log was truncated)")
        elif top + 1 < newest:
            self.problem(TRUNCATED, f"{EVENTS}: the log stops at leaf {top} but the newest checkpoint signs "
                                    f"{newest} events: the last {_plural(newest - top - 1, 'event')} are missing "
                                    "(the log was truncated)")
        complete = 0  # leaves 0 .. complete-1 are all present
        while complete < len(present) and present[complete] == complete:
            complete += 1
        wanted = {size for size in self.by_size if size <= complete}
        wanted.update(document["tree_size"] for _, document in self.held
                      if document["tree_size"] <= complete and document["tree_size"] not in self.by_size)
        roots = _prefix_roots((merkle.leaf_hash(bytes.fromhex(event.hash)) for event in leaves), wanted)
        for size in sorted(self.by_size):
            if size not in roots:
                continue
            if roots[size].hex() == self.by_size[size]["root_hash"]:
                self.counts["roots"] += 1
            else:
                self.problem(NOT_IN_LOG, f"the first {size} events of {EVENTS} do not make the root signed at "
                                         f"size {size}: the log differs from what was signed")
        for path, document in self.held:
            size = document["tree_size"]
            if size in roots and size not in self.by_size and roots[size].hex() != document["root_hash"]:
                self.problem(ROLLBACK, f"your checkpoint at size {size} ({path}): the package's first {size} "
                                       "events do not make its root: the log was rewritten")


def _prefix_roots(leaves, sizes: set) -> dict:
    """The RFC 6962 root of the first n of ``leaves`` (leaf hashes, in order) for each n in
    ``sizes``, in one pass; ``leaves`` must hold at least the largest size.

    A stack holds the roots of the complete subtrees left of the current leaf (as in a
    Merkle mountain range); the root of n leaves folds them right to left.
    """
    roots, stack, last = {}, [], max(sizes, default=0)  # stack of (height, hash)
    for index, node in enumerate(leaves):
        if index == last:
            break
        height = 0
        while stack and stack[-1][0] == height:
            node, height = merkle.node_hash(stack.pop()[1], node), height + 1
        stack.append((height, node))
        if index + 1 in sizes:
            root = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                root = merkle.node_hash(left, root)
            roots[index + 1] = root
    return roots


# -- the command ---------------------------------------------------------------------------------


def verify_package(path: str, *, keys: dict, held: list[tuple[str, dict]] = (), tenant: str | None = None,
                   full: bool = False, within: str = "", allow_masked: bool = False) -> Verification:
    """Verify the package at ``path`` (a directory or a ZIP file); the finished ``Verification``."""
    verification = Verification(keys, held=held, tenant=tenant, full=full, allow_masked=allow_masked)
    try:
        source = _open_package(path, within)
    except _READ_ERRORS as exc:
        verification.fatal = f"{path}: neither a directory nor a readable ZIP file ({exc})"
        return verification
    verification.run(source)
    return verification


def report(verification: Verification, path: str, out=None) -> None:
    """Print the summary and every problem."""
    out = out or sys.stdout
    print(f"Verification package: {path}", file=out)
    if verification.fatal is not None:
        print(f"CANNOT VERIFY: {verification.fatal}", file=out)
        print(f"exit {UNUSABLE}: not a verifiable package", file=out)
        return
    counts, newest = verification.counts, verification.newest
    sizes = sorted(verification.by_size)
    print(f"  tenant: {verification.tenant} ({verification.kind} package)", file=out)
    print(f"  checkpoints: {len(verification.checkpoints)}, sizes {sizes[0]} to {sizes[-1]}; "
          f"{_plural(counts['signatures'], 'signature')} verified with the pinned keys, "
          f"{_plural(counts['consistency'], 'consistency proof')} verified", file=out)
    if verification.held:
        print(f"  your checkpoints: {counts['held']} compared with the package's", file=out)
    print(f"  events: {counts['events']:,}; {_plural(counts['recomputed'], 'hash')} recomputed from their records, "
          f"{counts['masked']:,} masked (content not verified: only their hashes); "
          f"{_plural(counts['proofs'], 'inclusion proof')} verified", file=out)
    print(f"  chain links: {counts['links']:,} checked", file=out)
    if verification.kind == "full":
        print(f"  roots: {counts['roots']} of {len(sizes)} signed roots recomputed from the leaves"
              + ("" if counts["roots"] == len(sizes) else " (a root needs every leaf below its size)"), file=out)
    for note in verification.notes:
        print(f"  note: {note}", file=out)
    masked = counts["masked"]
    their = ("its hash is", "its") if masked == 1 else ("their hashes are", "their")
    unverified = (f"{_plural(masked, 'masked event')}: only {their[0]} proven to be in the signed log; {their[1]} "
                  "content is not verified")
    if not verification.problems:
        print(f"VERIFIED: every checkpoint is signed by a pinned key and extends the one before; "
              f"every event is in the log signed at size {newest['tree_size']}"
              + (", which holds nothing else" if verification.kind == "full" else "")
              + ("; every unmasked record matches its hash" if masked else "; every record matches its hash")
              + " and every chain link holds." + (f" Accepted with --allow-masked: {unverified}." if masked else ""),
              file=out)
        return
    by_kind: dict[int, list[str]] = {}
    for code, text in verification.problems:
        by_kind.setdefault(code, []).append(text)
    for kind in KINDS:
        texts = by_kind.get(kind.code, [])
        for text in texts[:SHOWN_PER_KIND]:
            print(f"PROBLEM [{kind.name}] {text}", file=out)
        if len(texts) > SHOWN_PER_KIND:
            print(f"... and {len(texts) - SHOWN_PER_KIND} more of kind {kind.name}", file=out)
    first = _KIND_BY_CODE[verification.exit_code]
    if first.code == MASKED:  # nothing else is wrong
        print(f"NOT VERIFIED: {unverified}. Everything else verified. exit {MASKED}: {first.name} (ask for the "
              "events unmasked, or pass --allow-masked to accept them on their hashes alone)", file=out)
        return
    print(f"FAILED: {_plural(len(verification.problems), 'problem')}. exit {first.code}: {first.name} "
          f"({first.meaning}; the first kind found, in the order of docs/VERIFY.md)", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify.py", description="Verify a tenant's verification package against pinned checkpoint keys.")
    parser.add_argument("package", help="the package: a ZIP file or a directory")
    parser.add_argument("--key", action="append", default=[], metavar="BASE64",
                        help="a pinned public key (raw Ed25519, base64); repeatable")
    parser.add_argument("--keys", metavar="KEYS.json", help="pinned keys as GET /api/v1/checkpoints/keys answers")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                        help="a checkpoint you hold from elsewhere (e.g. the archive); repeatable")
    parser.add_argument("--tenant", help="the tenant the package must be of")
    parser.add_argument("--full", action="store_true",
                        help="require a full package (you asked for the whole log, not a report's evidence)")
    parser.add_argument("--within", default="", metavar="FOLDER", help="the package's folder inside PACKAGE")
    parser.add_argument("--allow-masked", action="store_true",
                        help="accept masked events on their hashes alone (exit 0, not 21); their content stays "
                             "unverified")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 after --help
        return exc.code if isinstance(exc.code, int) else USAGE
    if Ed25519PublicKey is None:
        print("verify.py needs the cryptography package for Ed25519: pip install cryptography", file=sys.stderr)
        return USAGE
    try:
        keys = load_keys(args.key, args.keys)
        held = load_held(args.checkpoint)
    except UsageError as exc:
        print(f"verify.py: {exc}", file=sys.stderr)
        return USAGE
    verification = verify_package(args.package, keys=keys, held=held, tenant=args.tenant, full=args.full,
                                  within=args.within, allow_masked=args.allow_masked)
    report(verification, args.package)
    return verification.exit_code


if __name__ == "__main__":
    sys.exit(main())
