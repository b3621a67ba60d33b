"""RFC 9162 Merkle tree: RFC 6962 known answers, proofs checked against an oracle written from the RFC."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    assemble_proof,
    combine_subtrees,
    consistency_proof,
    consistency_proof_ranges,
    hash_children,
    hash_leaf,
    inclusion_proof,
    inclusion_proof_ranges,
    mth,
    nodes_for_ranges,
    perfect_subtrees,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

# --- the oracle: RFC 9162 section 2.1 definitions over raw data, written independently of ledger.merkle ---


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# --- RFC 6962 test vectors (certificate-transparency / transparency-dev/merkle) ---

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [  # index = tree size
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index 0-based, tree size, proof)
INCLUSION_VECTORS = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAF_HASHES = [hash_leaf(d) for d in LEAVES]


def _callback(leaf_hashes: list[bytes]):
    return lambda start, end: mth(leaf_hashes[start:end])


def _stored_nodes(leaf_hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree, as the database layer stores them, built by CompactRange.append."""
    tree = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for h in leaf_hashes:
        for level, index, node_hash in tree.append(h):
            nodes[(level, index)] = node_hash
    return nodes


@pytest.mark.parametrize("size", range(9))
def test_rfc6962_roots(size: int) -> None:
    assert mth(LEAF_HASHES[:size]).hex() == ROOTS[size]
    assert root_from_leaves(LEAF_HASHES[:size]).hex() == ROOTS[size]
    assert ref_mth(LEAVES[:size]).hex() == ROOTS[size]


def test_rfc6962_node_hashes() -> None:
    nodes = _stored_nodes(LEAF_HASHES)
    assert nodes[(0, 7)].hex() == "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"
    assert nodes[(1, 3)].hex() == "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
    assert nodes[(2, 1)].hex() == "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
    assert nodes[(3, 0)].hex() == ROOTS[8]
    assert len(nodes) == 8 + 4 + 2 + 1


def test_empty_root_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert combine_subtrees([]) == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_rfc6962_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(index, size, _callback(LEAF_HASHES)) == expected
    nodes = _stored_nodes(LEAF_HASHES[:size])
    assert assemble_proof(inclusion_proof_ranges(index, size), nodes) == expected
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(LEAF_HASHES[index], index, size, expected, root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_rfc6962_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(old, new, _callback(LEAF_HASHES)) == expected
    nodes = _stored_nodes(LEAF_HASHES[:new])
    assert assemble_proof(consistency_proof_ranges(old, new), nodes) == expected
    assert verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), expected)


def _leaves(n: int) -> list[bytes]:
    return [n.to_bytes(4, "big") + i.to_bytes(4, "big") for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_inclusion_proofs_match_the_rfc_definition(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 300), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    raw = _leaves(size)
    hashes = [hash_leaf(d) for d in raw]
    expected = ref_path(index, raw)
    nodes = _stored_nodes(hashes)
    ranges = inclusion_proof_ranges(index, size)
    needed = nodes_for_ranges(ranges)
    assert len(needed) <= 2 * size.bit_length()  # O(log n) stored nodes, fetched in one query
    via_nodes = assemble_proof(ranges, {n: nodes[n] for n in needed})
    assert via_nodes == expected
    assert inclusion_proof(index, size, _callback(hashes)) == expected
    root = ref_mth(raw)
    assert verify_inclusion(hashes[index], index, size, expected, root)
    # Tampering: each proof element, the leaf, the root, the index, the size, extra or missing elements.
    for i in range(len(expected)):
        bad = list(expected)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_inclusion(hashes[index], index, size, bad, root)
    assert not verify_inclusion(hash_leaf(b"other"), index, size, expected, root)
    assert not verify_inclusion(hashes[index], index, size, expected, hash_leaf(b"root"))
    assert not verify_inclusion(hashes[index], index, size, [*expected, root], root)
    # An element past the top, with the root it would lead to: the proof is one element too long.
    assert not verify_inclusion(hashes[index], index, size, [*expected, root], hash_children(root, root))
    if expected:
        assert not verify_inclusion(hashes[index], index, size, expected[:-1], root)
    assert not verify_inclusion(hashes[index], index, size * 2, expected, root)
    if index < size // 2:
        assert not verify_inclusion(hashes[index], index, size // 2, expected, root)
    other = index ^ 1
    if other < size and hashes[other] != hashes[index]:
        assert not verify_inclusion(hashes[index], other, size, expected, root)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_consistency_proofs_match_the_rfc_definition(data: st.DataObject) -> None:
    new = data.draw(st.integers(1, 300), label="new")
    old = data.draw(st.integers(1, new), label="old")
    raw = _leaves(new)
    hashes = [hash_leaf(d) for d in raw]
    expected = ref_proof(old, raw)
    nodes = _stored_nodes(hashes)
    ranges = consistency_proof_ranges(old, new)
    needed = nodes_for_ranges(ranges)
    assert len(needed) <= 2 * new.bit_length() + 2
    assert assemble_proof(ranges, {n: nodes[n] for n in needed}) == expected
    assert consistency_proof(old, new, _callback(hashes)) == expected
    old_root, new_root = ref_mth(raw[:old]), ref_mth(raw)
    assert verify_consistency(old, new, old_root, new_root, expected)
    if old == new:
        return
    for i in range(len(expected)):
        bad = list(expected)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_consistency(old, new, old_root, new_root, bad)
    assert not verify_consistency(old, new, new_root, old_root, expected)
    assert not verify_consistency(old, new, old_root, hash_leaf(b"x"), expected)
    assert not verify_consistency(old, new, hash_leaf(b"x"), new_root, expected)
    assert not verify_consistency(old, new, old_root, new_root, expected[:-1])
    assert not verify_consistency(old, new, old_root, new_root, [*expected, new_root])
    assert not verify_consistency(old, new, old_root, new_root, [])
    if old > 1:
        assert not verify_consistency(old - 1, new, old_root, new_root, expected)


def test_consistency_edge_cases() -> None:
    root = bytes.fromhex(ROOTS[3])
    assert verify_consistency(0, 3, EMPTY_ROOT, root, [])
    assert not verify_consistency(0, 3, root, root, [])
    assert verify_consistency(3, 3, root, root, [])
    assert not verify_consistency(3, 3, root, EMPTY_ROOT, [])
    assert not verify_consistency(3, 3, root, root, [root])
    assert not verify_consistency(4, 3, root, root, [])
    assert not verify_consistency(3, 1, root, root, [root])  # a log never shrinks, whatever the proof
    assert not verify_consistency(3, 3, b"short", b"short", [])
    assert not verify_inclusion(LEAF_HASHES[0], 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(b"short", 0, 1, [], b"short")
    assert not verify_inclusion(LEAF_HASHES[0], 1, 1, [], LEAF_HASHES[0])  # index == size: no such leaf
    with pytest.raises(ValueError):
        inclusion_proof_ranges(3, 3)
    with pytest.raises(ValueError):
        consistency_proof_ranges(4, 3)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 600), st.data())
def test_perfect_subtrees_tile_the_range(end: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, end))
    nodes = perfect_subtrees(start, end)
    cursor = start
    for level, index in nodes:
        assert index * (1 << level) == cursor
        cursor += 1 << level
    assert cursor == end
    assert len(nodes) <= 2 * max(end - start, 1).bit_length()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 300), st.data())
def test_compact_range_matches_reference_at_every_size_and_resumes(size: int, data: st.DataObject) -> None:
    hashes = [hash_leaf(d) for d in _leaves(size)]
    tree = CompactRange()
    for i, h in enumerate(hashes):
        assert tree.root() == mth(hashes[:i])
        tree.append(h)
    assert tree.size == size
    assert tree.root() == mth(hashes)
    assert combine_subtrees(
        [mth(hashes[i << lv : (i + 1) << lv]) for lv, i in perfect_subtrees(0, size)]
    ) == (mth(hashes))
    cut = data.draw(st.integers(0, size))
    partial = CompactRange()
    for h in hashes[:cut]:
        partial.append(h)
    resumed = CompactRange.from_subtrees(cut, [h for _, _, h in partial.subtrees()])
    for h in hashes[cut:]:
        resumed.append(h)
    assert resumed.root() == tree.root()


def test_compact_range_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        CompactRange.from_subtrees(3, [EMPTY_ROOT])
    with pytest.raises(ValueError):
        CompactRange().append(b"short")


def test_hash_children_prefix() -> None:
    assert hash_children(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
