#!/usr/bin/env python3
"""Verify an evidence bundle of the compliance portal, offline.

    python verify.py bundle.zip     the bundle as downloaded
    python verify.py DIRECTORY      the bundle unzipped

Needs Python 3.8 or newer and nothing else. It checks that

- every file matches its SHA-256 in manifest.json, and no file was added;
- every unmasked event in events.jsonl hashes to its hash in hashes.jsonl:
  sha256(bytes.fromhex(prev_hash) + the line's bytes), and names the
  aggregate, sequence and prev_hash that hashes.jsonl gives it;
- each aggregate's events link up: the prev_hash of sequence n+1 is the hash
  of sequence n, and that of sequence 1 is 64 zeros (a bundle holds the events
  behind a report's rows, so an aggregate may have gaps: those are not links);
- masked events (personal data replaced by {"masked": true}) no longer hash
  to their stored hash, so they are checked by linkage only, and counted.

It prints a summary and exits 0, or prints each problem and exits 1.
It keeps a few hundred bytes per event in memory to check the links.
"""

import csv
import hashlib
import io
import json
import os
import re
import sys
import zipfile
from collections import Counter

MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
HASHES = "hashes.jsonl"
REPORT = "report.csv"
GENESIS = "0" * 64
POSITION = ("tenant", "aggregate_type", "aggregate_id", "sequence", "prev_hash")
SHOWN_PROBLEMS = 100

_HEX64 = re.compile(r"[0-9a-f]{64}")


class ZipSource:
    """The files of a zipped bundle."""

    def __init__(self, path):
        self.zip = zipfile.ZipFile(path)
        infos = [info for info in self.zip.infolist() if not info.is_dir()]
        self.names = [info.filename for info in infos]
        self.entries = {info.filename: info for info in infos}

    def open(self, name):
        return self.zip.open(self.entries[name])


class DirectorySource:
    """The files of an unzipped bundle."""

    def __init__(self, path):
        self.root = path
        self.names = []
        for folder, _, files in os.walk(path):
            for file in files:
                relative = os.path.relpath(os.path.join(folder, file), path)
                self.names.append(relative.replace(os.sep, "/"))

    def open(self, name):
        return open(os.path.join(self.root, *name.split("/")), "rb")


def open_bundle(path):
    return DirectorySource(path) if os.path.isdir(path) else ZipSource(path)


class Verification:
    """The checks, their counts and the problems found."""

    def __init__(self):
        self.source = None
        self.present = set()
        self.problems = []
        self.manifest = {}
        self.files = self.events = self.recomputed = self.masked = self.links = self.rows = 0
        self.aggregates = {}  # (tenant, type, id) -> {sequence: (prev_hash, hash, line)}

    def problem(self, where, what):
        self.problems.append(f"{where}: {what}")

    def run(self, source):
        self.source = source
        self.present = set(source.names)
        self.check_manifest()
        self.check_events()
        self.check_links()
        self.check_rows()

    def check_manifest(self):
        for name, count in sorted(Counter(self.source.names).items()):
            if count > 1:
                self.problem(name, f"appears {count} times in the bundle")
        if MANIFEST not in self.present:
            self.problem(MANIFEST, "missing: the files cannot be checked")
            return
        try:
            with self.source.open(MANIFEST) as stream:
                self.manifest = json.loads(stream.read().decode("utf-8"))
            files = self.manifest["files"]
            if not isinstance(files, dict):
                raise ValueError("'files' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            self.problem(MANIFEST, f"unreadable ({exc})")
            self.manifest = {}
            return
        for name, expected in sorted(files.items()):
            if name not in self.present:
                self.problem(name, "listed in manifest.json but missing")
                continue
            self.files += 1
            actual = self.sha256(name)
            if actual is not None and actual != expected:
                self.problem(
                    name, f"SHA-256 is {actual} but manifest.json says {expected} (the file was changed)"
                )
        for name in sorted(self.present - set(files) - {MANIFEST}):
            self.problem(name, "not listed in manifest.json (a file was added)")

    def sha256(self, name):
        digest = hashlib.sha256()
        try:
            with self.source.open(name) as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
        except (OSError, zipfile.BadZipFile) as exc:
            self.problem(name, f"cannot be read ({exc})")
            return None
        return digest.hexdigest()

    def check_events(self):
        for name in (EVENTS, HASHES):
            if name not in self.present:
                self.problem(name, "missing")
                return
        with self.source.open(EVENTS) as events, self.source.open(HASHES) as hashes:
            number = 0
            while True:
                line, entry_line = events.readline(), hashes.readline()
                if not line and not entry_line:
                    break
                number += 1
                if not line or not entry_line:
                    shorter, longer = (EVENTS, HASHES) if not line else (HASHES, EVENTS)
                    self.problem(shorter, f"has {number - 1} lines, fewer than {longer}")
                    break
                self.check_event(number, line.rstrip(b"\n"), entry_line)
        counts = _object(self.manifest.get("counts"))
        if self.manifest and (counts.get("events"), counts.get("masked")) != (self.events, self.masked):
            self.problem(
                MANIFEST,
                f"counts {counts.get('events')} events ({counts.get('masked')} masked) "
                f"but events.jsonl holds {self.events} ({self.masked} masked)",
            )

    def check_event(self, number, line, entry_line):
        """Line ``number`` of events.jsonl against the same line of hashes.jsonl."""
        where = f"{EVENTS} line {number}"
        try:
            entry = _hashes_entry(entry_line)
        except ValueError as exc:
            self.problem(f"{HASHES} line {number}", f"unreadable ({exc})")
            return
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self.problem(where, f"not a JSON object ({exc}) (the event was changed)")
            return

        self.events += 1
        differing = [field for field in POSITION if record.get(field) != entry[field]]
        if differing:
            self.problem(
                where,
                f"its {', '.join(differing)} differ from {HASHES} line {number} "
                "(the event was changed or moved)",
            )
        if entry["masked"]:
            self.masked += 1  # its personal data is masked: no hash to recompute
        else:
            recomputed = hashlib.sha256(bytes.fromhex(entry["prev_hash"]) + line).hexdigest()
            if recomputed == entry["hash"]:
                self.recomputed += 1
            else:
                self.problem(
                    where,
                    f"hash mismatch: the line hashes to {recomputed} but {HASHES} line {number} says "
                    f"{entry['hash']} (the event was changed after it was hashed)",
                )

        aggregate = (entry["tenant"], entry["aggregate_type"], entry["aggregate_id"])
        chain = self.aggregates.setdefault(aggregate, {})
        sequence = entry["sequence"]
        if sequence in chain:
            first = chain[sequence][2]
            self.problem(
                where, f"repeats sequence {sequence} of {'/'.join(aggregate)} (first on line {first})"
            )
            return
        chain[sequence] = (entry["prev_hash"], entry["hash"], number)

    def check_links(self):
        """Each aggregate in sequence order (the file's order does not matter)."""
        for aggregate, chain in self.aggregates.items():
            for sequence in sorted(chain):
                prev_hash, _, number = chain[sequence]
                if sequence == 1:
                    expected, what = GENESIS, "the start of a chain is 64 zeros"
                elif sequence - 1 in chain:
                    _, expected, previous_line = chain[sequence - 1]
                    what = f"the hash of sequence {sequence - 1} (line {previous_line}) is {expected}"
                else:
                    continue  # the event before is not in the bundle: no link to check
                self.links += 1
                if prev_hash != expected:
                    self.problem(
                        f"{EVENTS} line {number}",
                        f"broken chain link: prev_hash of {'/'.join(aggregate)} sequence {sequence} "
                        f"is {prev_hash} but {what}",
                    )

    def check_rows(self):
        if REPORT not in self.present:
            self.problem(REPORT, "missing")
            return
        try:
            with self.source.open(REPORT) as stream:
                text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
                self.rows = max(sum(1 for _ in csv.reader(text)) - 1, 0)  # less the header
        except (ValueError, csv.Error, OSError, zipfile.BadZipFile) as exc:
            self.problem(REPORT, f"not readable as UTF-8 CSV ({exc})")
            return
        expected = _object(self.manifest.get("report")).get("row_count")
        if self.manifest and expected != self.rows:
            self.problem(REPORT, f"holds {self.rows} rows but manifest.json says {expected}")

    def summary(self):
        report = _object(self.manifest.get("report"))
        lines = []
        if report:
            lines.append(
                f"report: {report.get('title')} ({report.get('type')}), "
                f"generated {report.get('generated_at')} for {report.get('requester')}"
            )
        return lines + [
            f"files: {self.files} checked against manifest.json",
            f"events: {self.events} in {_plural(len(self.aggregates), 'aggregate')}: "
            f"{self.recomputed} hashes recomputed from their exact bytes, "
            f"{self.masked} masked events checked by linkage only "
            "(their hash cannot be recomputed)",
            f"chain links: {self.links} checked",
            f"rows: {self.rows} in report.csv",
        ]


def _plural(count, noun):
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _object(value):
    """``value`` if it is a JSON object, else an empty one (a tampered manifest must not crash the checks)."""
    return value if isinstance(value, dict) else {}


def _hashes_entry(text):
    """A line of hashes.jsonl, checked for the fields and types the checks rely on."""
    entry = json.loads(text.decode("utf-8"))
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    for field in ("tenant", "aggregate_type", "aggregate_id"):
        if not isinstance(entry.get(field), str):
            raise ValueError(f"{field} is not text")
    if type(entry.get("sequence")) is not int or entry["sequence"] < 1:
        raise ValueError("sequence is not a positive integer")
    for field in ("prev_hash", "hash"):
        if not isinstance(entry.get(field), str) or not _HEX64.fullmatch(entry[field]):
            raise ValueError(f"{field} is not 64 lowercase hexadecimal digits")
    if not isinstance(entry.get("masked"), bool):
        raise ValueError("masked is not true or false")
    return entry


def verify(path):
    """Verify the bundle at ``path`` (a ZIP file or a directory); the finished ``Verification``."""
    verification = Verification()
    try:
        source = open_bundle(path)
    except (OSError, zipfile.BadZipFile) as exc:
        verification.problem(path, f"not a bundle: neither a directory nor a readable ZIP file ({exc})")
        return verification
    verification.run(source)
    return verification


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python verify.py BUNDLE.zip | DIRECTORY", file=sys.stderr)
        return 2
    verification = verify(args[0])
    print(f"Evidence bundle: {args[0]}")
    for line in verification.summary():
        print("  " + line)
    problems = verification.problems
    if not problems:
        print(
            "VERIFIED: every file matches manifest.json, every unmasked event matches its hash, "
            "and every chain link holds."
        )
        return 0
    for problem in problems[:SHOWN_PROBLEMS]:
        print("PROBLEM " + problem)
    if len(problems) > SHOWN_PROBLEMS:
        print(f"... and {len(problems) - SHOWN_PROBLEMS} more problems")
    print(f"FAILED: {_plural(len(problems), 'problem')} found.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
