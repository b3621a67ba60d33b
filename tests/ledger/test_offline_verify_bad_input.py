"""Bad input to `python -m ledger.verify [--rules-replay]`: always a one-line FAIL/DIVERGES (or a usage
error), never a traceback. A small real export with credit (entries, checkpoints, two keys, transfers) is
mutated by hand and at random, and run through the command's main function in-process."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger import canonical, merkle, verify
from ledger.credit import replay, rules
from tests.fresh_process import ROOT, python_without_django
from tests.ledger.test_offline_verify import (
    KEY_1,
    KEY_2,
    ORIGIN,
    ROTATION,
    _checkpoint_line,
    _entry_line,
    _key_line,
)

PROVIDER, CONSUMER, THIRD = 101, 102, 103


def credit_documents() -> list[dict[str, Any]]:
    """A month's start of credit: rules, epoch, admissions, a listing, a grant and two downloads."""
    documents: list[dict[str, Any]] = []
    start = ROTATION + timedelta(days=1)

    def add(kind: str, subject: tuple[str, object], members: list[int], payload: dict, hours: int = 0):
        n = len(documents)
        documents.append(
            {
                "v": 1,
                "id": f"00000000-0000-4000-8000-{n:012x}",
                "kind": kind,
                "time": canonical.format_time(start + timedelta(hours=hours, seconds=n)),
                "actor": {"user": None, "member": None, "api_key": None},
                "subject": {"type": subject[0], "id": str(subject[1])},
                "members": members,
                "payload": {**payload, "credit": {"order": n}},
            }
        )

    rules_payload = rules.rules_document(params={**rules.RULES_V1, "trust_ramp_days": 0})
    add("credit.rules_changed", ("rules", 1), [], rules_payload)
    add(
        "epoch.opened",
        ("epoch", "2026-06"),
        [],
        {"epoch": "2026-06", "budget": 10**8, "rules": rules_payload["hash"]},
    )
    for member in (PROVIDER, CONSUMER, THIRD):
        add("member.admitted", ("member", member), [member], {"credit_code": f"c{member}"})
    add("dataset.registered", ("dataset", 7), [PROVIDER], {"dataset": 7, "grade": 1})
    add("dataset.version_added", ("dataset", 7), [PROVIDER], {"dataset": 7, "grade": 1, "sha256": "ab" * 32})
    request = {
        "request": 1,
        "dataset": 7,
        "grade": 1,
        "tier": "restricted",
        "purpose": "research",
        "duration_days": 30,
        "requester_member": CONSUMER,
        "owner_member": PROVIDER,
    }
    add("access.requested", ("access_request", 1), [PROVIDER, CONSUMER], request, 1)
    add("access.granted", ("access_request", 1), [PROVIDER, CONSUMER], {**request, "grant": 1}, 1)
    download = {
        "grant": 1,
        "request": 1,
        "dataset": 7,
        "grade": 1,
        "tier": "restricted",
        "grantee_member": CONSUMER,
        "owner_member": PROVIDER,
        "version_sha256": "ab" * 32,
    }
    for _ in range(2):
        add("data.downloaded", ("grant", 1), [PROVIDER, CONSUMER], download, 2)
    return documents


def build_export(documents: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Header, two keys, checkpoints at 3 and at the end, the entries (signed by key 2) and, for documents
    the rules accept, the transfers they make (as the exporter writes them: by order, then id)."""
    documents = credit_documents() if documents is None else documents
    entries = [_entry_line(seq, document, KEY_2) for seq, document in enumerate(documents)]
    hashes = [bytes.fromhex(entry["leaf_hash"]) for entry in entries]
    result = replay.replay([(e["seq"], e["leaf_hash"], d) for e, d in zip(entries, documents, strict=True)])
    transfers = sorted(
        ({"type": "credit_transfer", **t.as_dict()} for t in result.transfers),
        key=lambda t: (t["order"], t["id"]),
    )
    return [
        {"type": "header", "format": verify.EXPORT_FORMAT, "origin": ORIGIN, "tree_size": len(entries)},
        _key_line(KEY_1, datetime(2026, 1, 1, tzinfo=UTC), ROTATION),
        _key_line(KEY_2, ROTATION, None),
        _checkpoint_line(KEY_1, 3, merkle.mth(hashes[:3])),
        _checkpoint_line(KEY_2, len(entries), merkle.mth(hashes)),
        *entries,
        *transfers,
    ]


def dump(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines).encode()


GOOD = dump(build_export())
VERDICTS = ("OK: ", "CREDIT OK: ", "FAIL ", "DIVERGES ", "DIVERGES: ")


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, *options: str) -> tuple[int, str]:
    """main() on `data` written to a file: its exit status and its last line of output (the verdict).

    Fails the test on an exception (which would be a traceback on the command line) or output that is
    not one of the documented verdicts."""
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    status = verify.main([str(path), *options])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    last = out.splitlines()[-1] if out else ""
    assert last.startswith(VERDICTS), (out, err)
    assert (status == 0) == last.startswith(("OK: ", "CREDIT OK: ")), (status, out)
    assert "\n" not in last and len(last) < 1000
    return status, last


def test_the_export_built_here_verifies_and_replays(tmp_path, capsys) -> None:
    assert run(tmp_path, capsys, GOOD, "--rules-replay") == (
        0,
        "CREDIT OK: 11 credit entries replayed; 9 transfers match",
    )


def _lines(data: bytes = GOOD) -> list[bytes]:
    return data.split(b"\n")


def _line_of(kind: str, data: bytes = GOOD) -> int:
    return next(i for i, line in enumerate(_lines(data)) if f'"type":"{kind}"'.encode() in line)


def _with_line(index: int, replacement: bytes | None, data: bytes = GOOD) -> bytes:
    lines = _lines(data)
    if replacement is None:
        del lines[index]
    else:
        lines[index] = replacement
    return b"\n".join(lines)


def _changed(kind: str, **changes: Any) -> bytes:
    """GOOD with the first line of `kind` changed (a value of _MISSING deletes the member; None sets null)."""
    index = _line_of(kind)
    obj = json.loads(_lines()[index])
    for name, value in changes.items():
        if value is _MISSING:
            del obj[name]
        else:
            obj[name] = value
    return _with_line(index, json.dumps(obj).encode())


_MISSING = object()
TRANSFER = _line_of("credit_transfer")
FIRST_ENTRY = _line_of("entry")


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        # bytes and text
        (b"", "FAIL line 0: the export is empty"),
        (b"\n \n", "FAIL line 0: the export is empty"),
        (b"\xef\xbb\xbf" + GOOD, "FAIL line 1: starts with a byte order mark (U+FEFF)"),
        (GOOD[:40] + b"\xff" + GOOD[40:], "FAIL line 1: not UTF-8 text (byte 0xff at column 41)"),
        (_with_line(2, b'{"type":"key","key_id":"\xc3\x28"}'), "FAIL line 3: not UTF-8 text (byte 0xc3"),
        (GOOD.replace(b"\n", b"\r\n"), "CREDIT OK: "),  # whitespace between JSON tokens: still the same lines
        (GOOD.replace(b"\n", b"\r"), "FAIL line 1: not valid JSON"),
        (b"\x00" * 8, "FAIL line 1: not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "FAIL line 1: not valid JSON here: nested too deeply"),
        (
            GOOD.replace(b'"tree_size":11', b'"tree_size":' + b"9" * 5000, 1),
            "FAIL line 1: not valid JSON here",
        ),
        (GOOD[: len(GOOD) // 2], "FAIL "),
        # lines dropped, repeated, swapped
        (_with_line(0, None), "FAIL line 1: the first line must be the header"),
        (_with_line(FIRST_ENTRY + 4, None), "FAIL at seq 4: expected seq 4, found 5"),
        (_with_line(FIRST_ENTRY, _lines()[FIRST_ENTRY + 1]), "FAIL at seq 0: expected seq 0, found 1"),
        (_with_line(TRANSFER, None), "DIVERGES at seq 1 (credit order 1): transfer"),
        (
            _with_line(TRANSFER, _lines()[TRANSFER] + b"\n" + _lines()[TRANSFER]),
            "DIVERGES at seq 1 (credit order 1): transfer",
        ),
        # wrong JSON types and values
        (_changed("header", tree_size="11"), "FAIL line 1: tree_size must be a non-negative integer"),
        (_changed("header", tree_size=11.0), "FAIL line 1: tree_size must be a non-negative integer"),
        (_changed("header", tree_size=2**80), "FAIL at seq 11: the export ends after 11 entries"),
        (_changed("header", tree_size=_MISSING), "FAIL line 1: tree_size must be a non-negative integer"),
        (_changed("header", origin=["x"]), "FAIL line 1: invalid origin ['x']"),
        (_changed("header", extra=[1]), "CREDIT OK: "),  # only the members it names are read
        (_changed("key", key_id=None), "FAIL line 2: key_id None is not 8 lowercase hex digits"),
        (_changed("key", public_key="AAAA"), "FAIL key "),
        (_changed("key", public_key=[]), "FAIL key "),
        (_changed("key", valid_from=0), "FAIL key "),
        (_changed("key", valid_from="2026-01-01"), "FAIL key "),
        (_changed("checkpoint", tree_size=-3), "FAIL line 4: checkpoint: tree_size must be a non-negative"),
        (_changed("checkpoint", tree_size="3"), "FAIL line 4: checkpoint: tree_size must be a non-negative"),
        (_changed("checkpoint", note={}), "FAIL checkpoint 3: note does not verify: not a string"),
        (_changed("checkpoint", note="x\n"), "FAIL checkpoint 3: note does not verify"),
        (_changed("checkpoint", root_hash="XYZ"), "FAIL checkpoint 3: root_hash does not match"),
        (_changed("checkpoint", key_id="deadbeef"), "FAIL checkpoint 3: signed by unknown key 'deadbeef'"),
        (_changed("checkpoint", key_id=_MISSING), "FAIL checkpoint 3: signed by unknown key None"),
        (_changed("entry", seq="0"), "FAIL at seq 0: expected seq 0, found '0'"),
        (_changed("entry", seq=None), "FAIL at seq 0: expected seq 0, found None"),
        (_changed("entry", canonical="not base64!"), "FAIL at seq 0: canonical is not valid base64"),
        (
            _changed("entry", canonical=base64.b64encode(b"[1]").decode()),
            'FAIL at seq 0: entry is not an object with "v":1',
        ),
        (_changed("entry", receipt="AAAA"), "FAIL at seq 0: receipt signature does not verify"),
        (_changed("entry", receipt=None), "FAIL at seq 0: receipt is not a base64 string"),
        (_changed("entry", leaf_hash=None), "FAIL at seq 0: leaf_hash None"),
        (_changed("entry", key_id="deadbeef"), "FAIL at seq 0: receipt names unknown key 'deadbeef'"),
        (_changed("entry", key_id={}), "FAIL at seq 0: receipt names unknown key {}"),
        (_changed("entry", accepted_at=12), "FAIL at seq 0: accepted_at"),
        (_changed("entry", type="entry2"), "FAIL line 6: unknown line type 'entry2'"),
        (_changed("entry", type=None), 'FAIL line 6: not an object with a string "type"'),
        (_with_line(FIRST_ENTRY, b"[]"), 'FAIL line 6: not an object with a string "type"'),
        (_with_line(FIRST_ENTRY, b"null"), 'FAIL line 6: not an object with a string "type"'),
        (
            _changed("credit_transfer", id=["x"]),
            f"DIVERGES: line {TRANSFER + 1}: credit_transfer id ['x'] is not",
        ),
        (
            _changed("credit_transfer", id=_MISSING),
            f"DIVERGES: line {TRANSFER + 1}: credit_transfer id None is",
        ),
        (
            _changed("credit_transfer", id="00" * 16, order="x"),
            f"DIVERGES: line {TRANSFER + 1}: credit_transfer",
        ),
        (_changed("credit_transfer", order=True), f"DIVERGES: line {TRANSFER + 1}: credit_transfer"),
        (_changed("credit_transfer", amount=1.5), f"DIVERGES: line {TRANSFER + 1}: credit_transfer"),
        (_changed("credit_transfer", amount=-5), "DIVERGES at seq 1 (credit order 1): transfer"),
        (_changed("credit_transfer", leg=7), f"DIVERGES: line {TRANSFER + 1}: credit_transfer"),
        (_changed("credit_transfer", leg=_MISSING), "DIVERGES at seq 1 (credit order 1): transfer"),
        (_changed("credit_transfer", id="zz" * 16), "DIVERGES at seq 1 (credit order 1): transfer"),
    ],
)
def test_targeted_bad_input_is_named(tmp_path, capsys, data: bytes, verdict: str) -> None:
    _status, last = run(tmp_path, capsys, data, "--rules-replay")
    assert last.startswith(verdict), last


def _resigned(change) -> bytes:
    """The export of credit_documents() after `change(documents)`, entries and checkpoints signed anew: the
    log verifies, so only the credit replay can object."""
    documents = copy.deepcopy(credit_documents())
    change(documents)
    return dump(build_export(documents))


def _set(path: tuple[Any, ...], value: Any):
    def change(documents: list[dict[str, Any]]) -> None:
        target = documents
        for step in path[:-1]:
            target = target[step]
        if value is _MISSING:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


# (index of the document, path in it) for the members the rules read
READ_BY_THE_RULES = [
    (8, ("kind",)),
    (8, ("actor",)),
    (8, ("subject",)),
    (8, ("subject", "id")),
    (8, ("members",)),
    (8, ("payload",)),
    (8, ("payload", "credit")),
    (8, ("payload", "credit", "order")),
    (8, ("payload", "request")),
    (8, ("payload", "duration_days")),
    (7, ("payload", "owner_member")),
    (7, ("payload", "tier")),
    (9, ("payload", "dataset")),
    (9, ("payload", "tier")),
    (9, ("payload", "grantee_member")),
    (9, ("payload", "version_sha256")),
    (0, ("payload", "params")),
    (1, ("payload", "budget")),
]


@pytest.mark.parametrize(("index", "path"), READ_BY_THE_RULES)
@pytest.mark.parametrize("value", [_MISSING, None, "x", "credit", [], {}, [1], True, -1])
def test_a_signed_entry_the_rules_cannot_read_diverges_there(tmp_path, capsys, index, path, value) -> None:
    """The log's check reads only "v" of an entry: a validly signed entry of a credit kind may have any
    other shape, and the replay must name it rather than fail on it."""
    change = _set((index, *path), value)
    _status, last = run(tmp_path, capsys, _resigned(change), "--rules-replay")
    found = re.match(r"(CREDIT OK: |DIVERGES at seq (\d+) |DIVERGES: seq (\d+): )", last)
    assert found, last
    # there, or at a later entry that needs what it should have recorded
    assert found[1] == "CREDIT OK: " or int(found[2] or found[3]) >= index, last
    # OK only where the rules accept the changed entry (the export then holds the transfers they make), and
    # a divergence named at the entry where the rules stopped
    documents = copy.deepcopy(credit_documents())
    change(documents)
    entries = [_entry_line(seq, document, KEY_2) for seq, document in enumerate(documents)]
    stopped = replay.replay(
        [
            (entry["seq"], entry["leaf_hash"], document)
            for entry, document in zip(entries, documents, strict=True)
        ]
    ).divergence
    if stopped is None:
        assert found[1] == "CREDIT OK: ", last
    else:
        assert found[1] != "CREDIT OK: " and stopped[1] in last, (stopped, last)


def test_an_entry_the_rules_fail_on_names_the_rules_line_that_failed(tmp_path, capsys) -> None:
    # A payload member of another type than the rules read: the divergence says where they stopped, so a
    # fault of the rules themselves (not of the entry) can be found from it without a traceback.
    _status, last = run(
        tmp_path, capsys, _resigned(_set((9, "payload", "grantee_member"), [1])), "--rules-replay"
    )
    assert re.search(r"DIVERGES.*Error.* at \w+\.py:\d+", last), last


def test_the_replay_reads_the_file_the_log_check_verified(tmp_path, capsys, monkeypatch) -> None:
    # ledger_export replaces an export by rename: one made while the verifier runs must not be replayed
    # unverified in place of the one verified (here: a copy without its credit lines).
    path = tmp_path / "export.jsonl"
    path.write_bytes(GOOD)
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(b"".join(line + b"\n" for line in _lines() if b"credit_transfer" not in line))
    verify_export = verify.verify_export

    def then_replaced(handle, trusted):
        report = verify_export(handle, trusted)
        replacement.replace(path)
        return report

    monkeypatch.setattr(verify, "verify_export", then_replaced)
    assert verify.main([str(path), "--rules-replay"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "CREDIT OK: 11 credit entries replayed; 9 transfers match"
    )


def test_random_byte_level_mutations_are_named(tmp_path, capsys) -> None:
    """A few hundred seeded mutations: flipped, inserted and deleted bytes, truncations, dropped, repeated
    and swapped lines. Each gets a verdict (OK only where the change left valid content)."""
    rng = random.Random(20261130)
    verdicts: set[str] = set()
    _status, good_log = run(tmp_path, capsys, GOOD)
    _status, good_credit = run(tmp_path, capsys, GOOD, "--rules-replay")
    for _ in range(300):
        data = bytearray(GOOD)
        how = rng.randrange(6)
        if how == 0:
            for _flip in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == 1:
            data = data[: rng.randrange(len(data))]
        elif how == 2:
            at = rng.randrange(len(data))
            data[at:at] = bytes([rng.choice(b'{}[]",:0123456789-.etfn\\\n \xff')])
        elif how == 3:
            at = rng.randrange(len(data))
            del data[at : at + rng.randint(1, 8)]
        else:
            lines = bytes(data).split(b"\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            if how == 4:
                lines.insert(a, lines[b])
            else:
                lines[a], lines[b] = lines[b], lines[a]
            data = bytearray(b"\n".join(lines))
        options = ("--rules-replay",) if rng.random() < 0.5 else ()
        status, last = run(tmp_path, capsys, bytes(data), *options)
        verdicts.add(last.split(":")[0].split(" at ")[0])
        if status == 0 and options:  # OK only for the same log: the same credit ...
            assert last == good_credit, last
        elif status == 0:  # ... its entries under its root (a repeated checkpoint line is harmless)
            parts, good_parts = last.split(", "), good_log.split(", ")
            assert (parts[0], parts[-1]) == (good_parts[0], good_parts[-1]), last
    assert {"OK", "FAIL line 1", "DIVERGES"} <= verdicts, verdicts  # the mutations reach every part


def test_paths_that_are_not_readable_files(tmp_path, capsys) -> None:
    for path in (tmp_path, tmp_path / "missing.jsonl"):
        assert verify.main([str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.splitlines()[-1].startswith(f"cannot read {path}: ")
    for bad in ("garbage", "+", "x+12345678+", "x+12345678+" + "A" * 44, ""):
        assert verify.main([str(tmp_path), "--trusted-key", bad]) == 2
        assert capsys.readouterr().err.startswith("bad --trusted-key: ")


def test_a_compressed_export_is_named_as_such(tmp_path, capsys) -> None:
    status, last = run(tmp_path, capsys, gzip.compress(GOOD))
    assert status == 1
    gzip_verdict = "FAIL line 1: not UTF-8 text (byte 0x8b at column 2); it is gzip-compressed: decompress it"
    assert last == gzip_verdict + " first (gunzip)"
    # Other bytes that are not UTF-8 get no such hint, nor does a later line that starts like gzip.
    assert run(tmp_path, capsys, b"\xff" + GOOD)[1] == "FAIL line 1: not UTF-8 text (byte 0xff at column 1)"
    first, rest = GOOD.split(b"\n", 1)
    assert "gzip" not in run(tmp_path, capsys, first + b"\n\x1f\x8b" + rest)[1]


def test_the_entry_point_prints_the_verdict_not_a_traceback(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_changed("credit_transfer", id=["x"]))
    result = python_without_django("-m", "ledger.verify", str(bad), "--rules-replay", timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"DIVERGES: line {TRANSFER + 1}: credit_transfer id")


@pytest.mark.parametrize("data", [GOOD, GOOD.replace(b'"seq":3', b'"seq":4', 1)], ids=["ok", "fail"])
def test_a_reader_that_closed_the_pipe_gets_no_traceback_and_no_success(data: bytes) -> None:
    """`python -m ledger.verify - | head -c0`: the verdict cannot be written, so the run fails (status 1,
    however the export verified) without a traceback."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger.verify", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert process.stdout is not None and process.stdin is not None and process.stderr is not None
    process.stdout.close()  # before the verifier has read its input, so before it can write anything
    process.stdin.write(data)
    process.stdin.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in errors and "Exception ignored" not in errors, errors
