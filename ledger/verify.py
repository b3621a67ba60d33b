"""Offline verifier of a ledger export (JSON Lines, docs/ledger-format.md): ``python -m ledger.verify PATH``.

Needs only the standard library, ``cryptography`` and the framework-free ``ledger.canonical``,
``ledger.merkle`` and ``ledger.signing`` (no Django, no database, no ``rfc8785``). It streams the export in
one pass in O(log n) memory plus the key and checkpoint lines, which must therefore come before the entries
they cover (the order the exporter writes: header, keys, checkpoints, entries). It stops at the first
problem and names it as ``FAIL at seq <i>: <reason>``, ``FAIL checkpoint <size>: <reason>``,
``FAIL key <key id>: <reason>`` or ``FAIL line <n>: <reason>``.

With ``--rules-replay`` it then replays the credit entries through the credit rules (``ledger.credit``, the
same pure code the exchange posts with) and diffs the export's ``credit_transfer`` lines, printing
``CREDIT OK ...`` or ``DIVERGES at seq <i> ...``.

Exit status: 0 verified, 1 verification (or credit replay) failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, BinaryIO, NoReturn

from ledger import canonical, merkle, signing

__all__ = [
    "EXPORT_FORMAT",
    "ExportVerifier",
    "PublishedKey",
    "VerificationFailed",
    "VerificationReport",
    "main",
    "verify_export",
]

EXPORT_FORMAT = "consortium-exchange-ledger-export/v1"
ENTRY_VERSION = 1
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")
_KEY_ID = re.compile(r"[0-9a-f]{8}\Z")


class VerificationFailed(Exception):
    """The export does not verify; ``str()`` is the full ``FAIL ...`` line, ``seq`` the bad entry if any."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass(frozen=True)
class PublishedKey:
    """A signing key from the export, valid for receipt times in ``[valid_from, valid_until)``."""

    key_id: str
    public_key: bytes = field(repr=False)
    valid_from: datetime
    valid_until: datetime | None

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in this key's half-open validity window."""
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)


@dataclass
class VerificationReport:
    """Outcome of a verification; ``failure`` is the ``FAIL ...`` line when ``ok`` is False."""

    ok: bool
    origin: str | None
    entries: int
    checkpoints: int
    keys: int
    root: bytes
    failure: str | None = None
    failed_seq: int | None = None
    credit_transfers: int = 0  # lines read but not checked: only --rules-replay checks them

    def summary(self) -> str:
        """``OK: <N> entries, <k> checkpoints, <m> keys, root <hex>`` or the failure line."""
        if not self.ok:
            return self.failure or "FAIL"
        return (
            f"OK: {self.entries} entries, {self.checkpoints} checkpoints, {self.keys} keys, "
            f"root {self.root.hex()}"
        )


def _b64(value: Any, what: str) -> bytes:
    """Strict base64 (padded, unused bits zero): an export line has one encoding of its bytes."""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return signing.b64decode_strict(value)
    except signing.SignatureError as exc:
        raise ValueError(f"{what} is not valid base64: {exc}") from None


class _RepeatedName(ValueError):
    pass


def _object_without_repeated_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if a name repeats: other parsers keep the first value where json keeps the
    last, so a line with a repeated name could show them what this verifier did not check."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedName("a name repeats in one object")
    return obj


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer")
    return value


class ExportVerifier:
    """Incremental verifier: feed parsed export objects in file order with :meth:`feed`, then :meth:`finish`.

    Raises :class:`VerificationFailed` at the first problem. Reusable by other front ends (the Django
    ``ledger_verify`` command, tests) that already have parsed objects.
    """

    def __init__(self, trusted_keys: dict[str, bytes] | None = None) -> None:
        # key id -> public key: when given, the export's own keys are accepted only if they are among these,
        # so an export re-signed end to end with someone else's key is refused.
        self.trusted_keys = trusted_keys
        self.origin: str | None = None
        self.declared_size = 0
        self.keys: dict[str, PublishedKey] = {}
        self.tree = merkle.CompactRange()
        self.pending: dict[int, list[dict[str, Any]]] = {}  # checkpoints not yet reached, by tree size
        self.checkpoints_verified = 0
        self.after_entries = False  # credit transfer lines come last
        self.credit_transfers = 0
        self._line = 0

    # -- dispatch -------------------------------------------------------------------------------------

    def feed(self, obj: Any, line: int = 0) -> None:
        """Check one export object (``line`` is only used in messages)."""
        self._line = line
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            self._fail_line('not an object with a string "type"')
        kind = obj["type"]
        if self.origin is None and kind != "header":
            self._fail_line("the first line must be the header")
        handler = {
            "header": self._header,
            "key": self._key,
            "checkpoint": self._checkpoint,
            "entry": self._entry,
            "credit_transfer": self._credit_transfer,
        }.get(kind)
        if handler is None:
            self._fail_line(f"unknown line type {kind!r}")
        handler(obj)

    def finish(self) -> VerificationReport:
        """Check the export is complete and return the success report (raises on failure)."""
        if self.origin is None:
            raise VerificationFailed("FAIL line 0: the export is empty (no header)")
        size = self.tree.size
        if size != self.declared_size:
            raise VerificationFailed(
                f"FAIL at seq {size}: the export ends after {size} entries but its header says "
                f"tree_size {self.declared_size}",
                seq=size,
            )
        if self.pending:
            raise VerificationFailed(
                f"FAIL checkpoint {min(self.pending)}: larger than the exported tree ({size})"
            )
        return VerificationReport(
            ok=True,
            origin=self.origin,
            entries=size,
            checkpoints=self.checkpoints_verified,
            keys=len(self.keys),
            root=self.tree.root(),
            credit_transfers=self.credit_transfers,
        )

    # -- line kinds -----------------------------------------------------------------------------------

    def _header(self, obj: dict[str, Any]) -> None:
        if self.origin is not None:
            self._fail_line("a second header")
        if obj.get("format") != EXPORT_FORMAT:
            self._fail_line(f"format {obj.get('format')!r} is not {EXPORT_FORMAT}")
        origin = obj.get("origin")
        if not isinstance(origin, str) or not signing.is_valid_key_name(origin):
            self._fail_line(f"invalid origin {origin!r}")
        try:
            self.declared_size = _int(obj.get("tree_size"), "tree_size")
        except ValueError as exc:
            self._fail_line(str(exc))
        self.origin = origin

    def _key(self, obj: dict[str, Any]) -> None:
        kid = obj.get("key_id")
        if not isinstance(kid, str) or not _KEY_ID.match(kid):
            self._fail_line(f"key_id {kid!r} is not 8 lowercase hex digits")
        try:
            public = _b64(obj.get("public_key"), "public_key")
            if len(public) != 32:
                raise ValueError("public_key is not 32 bytes")
            valid_from = canonical.parse_time(obj.get("valid_from"))
            until_text = obj.get("valid_until")
            valid_until = None if until_text is None else canonical.parse_time(until_text)
        except ValueError as exc:
            raise VerificationFailed(f"FAIL key {kid}: {exc}") from None
        assert self.origin is not None
        if signing.key_id(self.origin, public) != kid:
            raise VerificationFailed(f"FAIL key {kid}: key_id does not match the origin and public key")
        if valid_until is not None and valid_until <= valid_from:
            raise VerificationFailed(f"FAIL key {kid}: valid_until is not after valid_from")
        if kid in self.keys:
            raise VerificationFailed(f"FAIL key {kid}: published twice")
        if self.trusted_keys is not None and self.trusted_keys.get(kid) != public:
            raise VerificationFailed(f"FAIL key {kid}: not among the trusted keys given with --trusted-key")
        self.keys[kid] = PublishedKey(kid, public, valid_from, valid_until)

    def _checkpoint(self, obj: dict[str, Any]) -> None:
        try:
            size = _int(obj.get("tree_size"), "tree_size")
        except ValueError as exc:
            self._fail_line(f"checkpoint: {exc}")
        if size > self.declared_size:
            raise VerificationFailed(
                f"FAIL checkpoint {size}: larger than the header's tree_size {self.declared_size}"
            )
        if size < self.tree.size:
            raise VerificationFailed(
                f"FAIL checkpoint {size}: appears after the entries it covers (checkpoints must precede them)"
            )
        self.pending.setdefault(size, []).append(obj)
        if size == self.tree.size:
            self._check_checkpoints()

    def _credit_transfer(self, obj: dict[str, Any]) -> None:
        """Credit transfers come after the entries; the log itself does not depend on them."""
        self.after_entries = True
        self.credit_transfers += 1

    def _entry(self, obj: dict[str, Any]) -> None:
        if self.after_entries:
            self._fail_line("an entry after the credit transfers")
        seq = self.tree.size
        if type(obj.get("seq")) is not int or obj["seq"] != seq:
            self._fail(seq, f"expected seq {seq}, found {obj.get('seq')!r} (gap, duplicate or reordering)")
        try:
            data = _b64(obj.get("canonical"), "canonical")
            receipt = _b64(obj.get("receipt"), "receipt")
        except ValueError as exc:
            self._fail(seq, str(exc))
        if not canonical.is_canonical(data):
            self._fail(seq, "canonical bytes are not canonical JSON (RFC 8785, integers only)")
        document = json.loads(data)
        if not isinstance(document, dict) or type(document.get("v")) is not int or document["v"] != 1:
            self._fail(seq, f'entry is not an object with "v":{ENTRY_VERSION}')
        digest = canonical.leaf_hash(data)
        if obj.get("leaf_hash") != digest.hex():
            self._fail(seq, f"leaf_hash {obj.get('leaf_hash')!r} is not SHA-256(0x00 || canonical)")
        accepted_at = obj.get("accepted_at")
        try:
            moment = canonical.parse_time(accepted_at)
        except ValueError as exc:
            self._fail(seq, f"accepted_at: {exc}")
        assert isinstance(accepted_at, str)  # parse_time accepts canonical text only
        if document.get("time") != accepted_at:
            self._fail(
                seq, f"accepted_at {accepted_at} differs from the entry's time {document.get('time')!r}"
            )
        kid = obj.get("key_id")
        if not isinstance(kid, str) or kid not in self.keys:
            self._fail(seq, f"receipt names unknown key {kid!r}")
        key = self.keys[kid]
        if not key.covers(moment):
            self._fail(seq, f"accepted_at {accepted_at} is outside key {kid}'s validity window")
        assert self.origin is not None
        if not signing.verify_receipt(key.public_key, self.origin, digest, accepted_at, kid, receipt):
            self._fail(seq, f"receipt signature does not verify under key {kid}")
        self.tree.append(digest)
        if self.tree.size in self.pending:
            self._check_checkpoints()

    def _check_checkpoints(self) -> None:
        size = self.tree.size
        root = self.tree.root()
        assert self.origin is not None
        for obj in self.pending.pop(size):
            kid = obj.get("key_id")
            key = self.keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise VerificationFailed(f"FAIL checkpoint {size}: signed by unknown key {kid!r}")
            note = obj.get("note")
            if not isinstance(note, str):
                raise VerificationFailed(f"FAIL checkpoint {size}: note does not verify: not a string")
            try:
                parsed = signing.verify_checkpoint(note, self.origin, key.public_key, origin=self.origin)
            except (signing.SignatureError, TypeError) as exc:
                raise VerificationFailed(f"FAIL checkpoint {size}: note does not verify: {exc}") from None
            if parsed.size != size:
                raise VerificationFailed(f"FAIL checkpoint {size}: the signed note says size {parsed.size}")
            stated = obj.get("root_hash")
            if not isinstance(stated, str) or not _HEX32.match(stated) or stated != parsed.root.hex():
                raise VerificationFailed(f"FAIL checkpoint {size}: root_hash does not match the signed note")
            if parsed.root != root:
                raise VerificationFailed(
                    f"FAIL checkpoint {size}: signed root {parsed.root.hex()} differs from the root "
                    f"{root.hex()} rebuilt from entries 0..{size - 1}"
                )
            self.checkpoints_verified += 1

    # -- failures -------------------------------------------------------------------------------------

    def _fail(self, seq: int, reason: str) -> NoReturn:
        raise VerificationFailed(f"FAIL at seq {seq}: {reason}", seq=seq)

    def _fail_line(self, reason: str) -> NoReturn:
        raise VerificationFailed(f"FAIL line {self._line}: {reason}")


GZIP_MAGIC = b"\x1f\x8b"


def _utf8(raw: bytes, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        gzipped = number == 1 and raw.startswith(GZIP_MAGIC)
        hint = "; it is gzip-compressed: decompress it first (gunzip)" if gzipped else ""
        raise VerificationFailed(
            f"FAIL line {number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            + hint
        ) from None


def verify_export(
    lines: Iterable[str | bytes], trusted_keys: dict[str, bytes] | None = None
) -> VerificationReport:
    """Verify an export given as an iterable of JSON Lines (str or bytes); never raises on bad input.

    Blank lines are ignored. Returns a report whose ``failure`` is the first ``FAIL ...`` line.
    """
    verifier = ExportVerifier(trusted_keys)
    try:
        for number, raw in enumerate(lines, start=1):
            text = _utf8(raw, number) if isinstance(raw, bytes) else raw
            if not text.strip():
                continue
            try:
                obj = json.loads(text, object_pairs_hook=_object_without_repeated_names)
            except json.JSONDecodeError:
                if text.startswith("\ufeff"):  # what some editors put first; json refuses it, rightly
                    raise VerificationFailed(
                        f"FAIL line {number}: starts with a byte order mark (U+FEFF); the export is UTF-8 "
                        "without one"
                    ) from None
                raise VerificationFailed(f"FAIL line {number}: not valid JSON") from None
            except _RepeatedName as exc:
                raise VerificationFailed(f"FAIL line {number}: {exc}") from None
            except ValueError:  # an integer longer than int() reads (sys.get_int_max_str_digits)
                raise VerificationFailed(
                    f"FAIL line {number}: not valid JSON here: an integer too long"
                ) from None
            except RecursionError:
                raise VerificationFailed(
                    f"FAIL line {number}: not valid JSON here: nested too deeply"
                ) from None
            verifier.feed(obj, number)
        return verifier.finish()
    except VerificationFailed as exc:
        return VerificationReport(
            ok=False,
            origin=verifier.origin,
            entries=verifier.tree.size,
            checkpoints=verifier.checkpoints_verified,
            keys=len(verifier.keys),
            root=verifier.tree.root(),
            failure=str(exc),
            failed_seq=exc.seq,
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ledger.verify", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="export file (JSON Lines), or - for standard input")
    parser.add_argument(
        "--rules-replay",
        action="store_true",
        help="also replay the credit rules over the entries and diff the exported transfers",
    )
    parser.add_argument(
        "--trusted-key",
        action="append",
        metavar="VKEY",
        help="a signed-note verifier key (name+hash+base64) obtained out of band, e.g. from "
        "/api/v1/ledger/keys/; repeat for each key. Without it the export's own keys are trusted.",
    )
    args = parser.parse_args(argv)
    if args.rules_replay and args.path == "-":
        print("--rules-replay reads the export twice: give a file, not standard input", file=sys.stderr)
        return 2
    trusted = None
    if args.trusted_key:
        try:
            pinned = [signing.parse_verifier_key(vkey) for vkey in args.trusted_key]
        except signing.SignatureError as exc:
            print(f"bad --trusted-key: {exc}", file=sys.stderr)
            return 2
        trusted = {signing.key_id(name, public): public for name, public in pinned}
    else:
        print("note: the keys are taken from the export itself; pin them with --trusted-key", file=sys.stderr)
    if args.path == "-":
        return _verdict(verify_export(sys.stdin.buffer, trusted), None)
    try:
        # One handle for both passes: the replay reads the very file the log check verified, even if an
        # export replaces the path (by rename) in between.
        with open(args.path, "rb") as handle:
            report = verify_export(handle, trusted)
            if not (report.ok and args.rules_replay):
                return _verdict(report, None)
            handle.seek(0)
            return _verdict(report, replay_credit(handle))
    except OSError as exc:
        print(f"cannot read {args.path}: {exc.strerror}", file=sys.stderr)
        return 2


def _verdict(report: VerificationReport, replayed: tuple[Any, str] | None) -> int:
    """Print the log's verdict and, after a replay (divergence or None, summary), the credit's; the exit
    status."""
    print(report.summary())
    if not report.ok:
        return 1
    if replayed is not None:
        divergence, summary = replayed
        print(summary if divergence is None else str(divergence))
        return 0 if divergence is None else 1
    if report.credit_transfers:
        # OK above is the log's; an auditor must not read it as covering the credit lines too
        print(
            f"note: the {report.credit_transfers} credit_transfer lines were not checked; --rules-replay "
            "replays the credit rules and diffs them",
            file=sys.stderr,
        )
    return 0


def replay_credit(handle: BinaryIO) -> tuple[Any, str]:
    """Replay the export's credit entries through the rules and diff its `credit_transfer` lines.

    Reads the export from the binary `handle` at its start. Returns (divergence or None, summary line); the
    divergence is the I7 report (text) when the transfers match but provider legs are pending more than a
    day past their dispute window at the export's latest entry time.
    Uses the same pure rules code as the service (``ledger.credit``: standard library only). Call after
    the log itself verified, on the same handle."""
    from ledger.credit import engine, replay

    documents: list[tuple[int, str, dict[str, Any]]] = []
    transfers: list[dict[str, Any]] = []
    clock_us = 0  # the export's latest entry time: what the provider legs' windows are measured against
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        obj = json.loads(raw)
        if obj.get("type") == "entry":
            document = json.loads(base64.b64decode(obj["canonical"]))
            clock_us = max(clock_us, engine.time_us_of(document["time"]))
            if isinstance(document.get("kind"), str) and document["kind"] in engine.CREDIT_KINDS:
                documents.append((obj["seq"], obj["leaf_hash"], document))
        elif obj.get("type") == "credit_transfer":
            # the log's check passes these lines unread: the diff needs an id to match them by
            problem = _transfer_line_problem(obj)
            if problem is not None:
                return replay.Divergence(None, None, f"line {number}: {problem}"), ""
            transfers.append({key: value for key, value in obj.items() if key != "type"})
    result = replay.replay(documents)
    divergence = replay.diff(result, transfers)
    summary = f"CREDIT OK: {result.entries} credit entries replayed; {len(transfers)} transfers match"
    if divergence is None:
        overdue = replay.overdue_provider_legs(result, clock_us)
        if overdue:  # I7, as `manage.py credit_audit` reports it
            return replay.overdue_report(overdue, clock_us), summary
    return divergence, summary


def _shown(value: Any) -> str:
    """A value for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def _transfer_line_problem(obj: dict[str, Any]) -> str | None:
    """Why a `credit_transfer` line cannot be compared with the rules' transfers (section 8), or None.

    Only the types, those of the rules' own `Transfer`: a wrong value of the right type is the diff's to
    name. A text member may be missing (the diff names that); an integer must be there and be one, not
    `true` (which Python would take for 1)."""
    from ledger.credit import engine

    if not isinstance(obj.get("id"), str):
        return f"credit_transfer id {_shown(obj.get('id'))} is not a string"
    for member in fields(engine.Transfer):  # annotations are text here (postponed evaluation)
        name, value = member.name, obj.get(member.name)
        if member.type == "str" and name in obj and not isinstance(value, str):
            return f"credit_transfer {_shown(obj['id'])}: {name} {_shown(value)} is not a string"
        if member.type == "int" and type(value) is not int:
            return f"credit_transfer {_shown(obj['id'])}: {name} {_shown(value)} is not an integer"
    return None


def _exit_with_verdict() -> NoReturn:
    """Run `main` as the command and exit with its status. A reader that closed the pipe before the verdict
    reached it (`| head -c0`) ends the run with status 1 (no verdict was delivered), not a traceback."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    _exit_with_verdict()
