"""Merkle sum tree of balances: known answers from the byte format, proofs, tampering, and properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.credit.sumtree import EMPTY_ROOT, inclusion_proof, root, verify_inclusion


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def oracle_leaf(label: str, balance: int) -> tuple[bytes, int]:
    # The docstring's format written out independently: ASCII labels only, so plain JSON is JCS here.
    return sha(b"\x00" + b'{"account":"%s","balance":%d}' % (label.encode(), balance)), balance


def oracle_parent(left: tuple[bytes, int], right: tuple[bytes, int]) -> tuple[bytes, int]:
    return sha(b"\x01" + left[0] + left[1].to_bytes(8, "big") + right[0] + right[1].to_bytes(8, "big")), (
        left[1] + right[1]
    )


def oracle_root(leaves: list[tuple[str, int]]) -> tuple[bytes, int]:
    if not leaves:
        return sha(b""), 0
    if len(leaves) == 1:
        return oracle_leaf(*leaves[0])
    k = 1
    while 2 * k < len(leaves):
        k *= 2
    return oracle_parent(oracle_root(leaves[:k]), oracle_root(leaves[k:]))


def test_empty_tree() -> None:
    assert root([]) == (EMPTY_ROOT, 0)
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_single_leaf_is_its_own_root() -> None:
    expected = sha(b'\x00{"account":"member:7","balance":1500}')
    assert root([("member:7", 1500)]) == (expected, 1500)
    assert inclusion_proof([("member:7", 1500)], 0) == []
    assert verify_inclusion("member:7", 1500, [], expected, 1500)


def test_three_leaves_split_two_and_one() -> None:
    a, b, c = oracle_leaf("a", 1), oracle_leaf("b", 2), oracle_leaf("c", 3)
    ab = (sha(b"\x01" + a[0] + (1).to_bytes(8, "big") + b[0] + (2).to_bytes(8, "big")), 3)
    top = (sha(b"\x01" + ab[0] + (3).to_bytes(8, "big") + c[0] + (3).to_bytes(8, "big")), 6)
    leaves = [("a", 1), ("b", 2), ("c", 3)]
    assert root(leaves) == top
    assert inclusion_proof(leaves, 0) == [(b[0], 2, "R"), (c[0], 3, "R")]
    assert inclusion_proof(leaves, 1) == [(a[0], 1, "L"), (c[0], 3, "R")]
    assert inclusion_proof(leaves, 2) == [(ab[0], 3, "L")]


def test_labels_are_json_escaped_per_rfc_8785() -> None:
    expected = sha(b'\x00{"account":"caf\xc3\xa9 \\"x\\"","balance":0}')
    assert root([('café "x"', 0)]) == (expected, 0)


@pytest.mark.parametrize(
    "leaves",
    [
        [("b", 1), ("a", 1)],  # unsorted
        [("a", 1), ("a", 2)],  # repeated label
        [("a", -1)],
        [("a", 2**53)],
        [("a", True)],
        [(7, 1)],
    ],
)
def test_bad_leaves_are_refused(leaves: list) -> None:
    with pytest.raises(ValueError):
        root(leaves)


def test_total_must_fit_in_eight_bytes() -> None:
    leaves = [(f"m{i:05d}", 2**53 - 1) for i in range(2049)]  # 2049 * (2**53 - 1) >= 2**64
    with pytest.raises(ValueError, match="64 bits"):
        root(leaves)
    assert root(leaves[:2048])[1] == 2048 * (2**53 - 1)


def test_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        inclusion_proof([("a", 1)], 1)
    with pytest.raises(IndexError):
        inclusion_proof([("a", 1)], -1)


def test_tampering_is_detected() -> None:
    leaves = [(f"m{i}", 10 * i) for i in range(5)]
    root_hash, root_sum = root(leaves)
    proof = inclusion_proof(leaves, 3)
    assert verify_inclusion("m3", 30, proof, root_hash, root_sum)
    assert not verify_inclusion("m3", 31, proof, root_hash, root_sum)
    assert not verify_inclusion("m4", 30, proof, root_hash, root_sum)
    assert not verify_inclusion("m3", 30, proof, root_hash, root_sum + 1)
    # Moving value between a sibling sum and the leaf keeps the total but changes the hash.
    sib_hash, sib_sum, side = proof[0]
    assert not verify_inclusion("m3", 31, [(sib_hash, sib_sum - 1, side), *proof[1:]], root_hash, root_sum)
    flipped = [(h, s, "L" if d == "R" else "R") for h, s, d in proof]
    assert not verify_inclusion("m3", 30, flipped, root_hash, root_sum)


@pytest.mark.parametrize(
    "bad_step",
    [
        (b"\x00" * 31, 0, "L"),  # short hash
        (b"\x00" * 32, -1, "L"),  # negative sum
        (b"\x00" * 32, 2**64, "L"),  # sum too wide
        (b"\x00" * 32, 0, "left"),  # bad side
        ("00" * 32, 0, "L"),  # hash not bytes
        (b"\x00" * 32, 0),  # wrong shape
    ],
)
def test_malformed_proofs_are_rejected_without_raising(bad_step: tuple) -> None:
    leaves = [("a", 1), ("b", 2)]
    root_hash, root_sum = root(leaves)
    assert not verify_inclusion("a", 1, [bad_step], root_hash, root_sum)  # type: ignore[list-item]
    assert not verify_inclusion("a", -1, [], root_hash, root_sum)


balances = st.lists(st.integers(0, 2**53 - 1), max_size=70)


def labelled(values: list[int]) -> list[tuple[str, int]]:
    return [(f"member:{i:04d}:available", v) for i, v in enumerate(values)]


@settings(max_examples=150, deadline=None)
@given(balances)
def test_root_matches_the_oracle_and_the_total(values: list[int]) -> None:
    leaves = labelled(values)
    assert root(leaves) == oracle_root(leaves)
    assert root(leaves)[1] == sum(values)


@settings(max_examples=150, deadline=None)
@given(balances.filter(bool), st.data())
def test_every_proof_verifies_and_a_changed_balance_fails(values: list[int], data: st.DataObject) -> None:
    leaves = labelled(values)
    root_hash, root_sum = root(leaves)
    for index, (label, balance) in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        assert len(proof) <= (len(leaves) - 1).bit_length()  # at most ceil(log2(n)) steps
        assert verify_inclusion(label, balance, proof, root_hash, root_sum)
    index = data.draw(st.integers(0, len(leaves) - 1))
    label, balance = leaves[index]
    other = data.draw(st.integers(0, 2**53 - 1).filter(lambda v: v != balance))
    proof = inclusion_proof(leaves, index)
    assert not verify_inclusion(label, other, proof, root_hash, root_sum)
    changed = [*leaves[:index], (label, other), *leaves[index + 1 :]]
    assert not verify_inclusion(label, balance, inclusion_proof(changed, index), *root(changed))
    assert root(changed) != (root_hash, root_sum)
