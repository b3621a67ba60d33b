"""Merkle sum tree of member balances: the commitment in `epoch.settled` (pure, standard library only).

A member checks its own balance against the signed root with an inclusion proof; because every parent hashes
both child sums, no balance can be hidden or inflated without changing the root or its sum.

Byte format (SHA-256 everywhere, hashes are 32 bytes, sums are unsigned 64-bit integers):

* Leaves are ``(label, balance)`` pairs given by the caller sorted by ``label`` (strictly increasing by
  Unicode code point, so labels are unique). ``label`` is a ``str``; ``balance`` an ``int`` with
  ``0 <= balance <= 2**53 - 1`` (the I-JSON safe range).
* Leaf node: hash ``SHA-256(0x00 || JCS({"account": label, "balance": balance}))`` where JCS is RFC 8785
  (:func:`ledger.canonical.encode_canonical_stdlib`), e.g. ``{"account":"m:7","balance":1500}``;
  sum ``balance``.
* Interior node over children ``(lh, ls)`` and ``(rh, rs)``: hash
  ``SHA-256(0x01 || lh || ls.to_bytes(8, "big") || rh || rs.to_bytes(8, "big"))``, sum ``ls + rs``
  (97 bytes hashed). Every sum, the total included, must be below ``2**64``.
* Shape: RFC 9162 section 2.1.1: a list of ``n >= 2`` leaves splits at ``k``, the largest power of two
  strictly smaller than ``n``; the left child is the tree of the first ``k`` leaves, the right child the tree
  of the rest. One leaf is its own root; no padding.
* Empty tree: hash ``SHA-256(b"")`` and sum ``0``.
* Inclusion proof: a list of ``(sibling_hash, sibling_sum, side)`` from the leaf's sibling up to the root's
  child, where ``side`` is ``"L"`` if the sibling is the left child (the path node is on the right) and
  ``"R"`` if it is the right child. Verification folds the leaf node up the path and compares both the hash
  and the sum with the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ledger.canonical import MAX_SAFE_INTEGER, encode_canonical_stdlib

__all__ = [
    "EMPTY_ROOT",
    "MAX_SUM",
    "Leaf",
    "Node",
    "ProofStep",
    "inclusion_proof",
    "interior_node",
    "leaf_node",
    "root",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Hash of the empty tree: ``SHA-256(b"")``; its sum is 0."""
MAX_SUM = 2**64 - 1
"""Largest sum a node may carry (8 bytes, big-endian, unsigned)."""
_HASH_SIZE = 32

Leaf = tuple[str, int]
Node = tuple[bytes, int]
ProofStep = tuple[bytes, int, str]


def leaf_node(label: str, balance: int) -> Node:
    """Return ``(SHA-256(0x00 || JCS({"account": label, "balance": balance})), balance)``.

    Raises ``ValueError`` if ``label`` is not a string or ``balance`` is not an int in
    ``0 .. 2**53 - 1`` (a :class:`ledger.canonical.CanonicalError`, a ``ValueError``, for bad strings).
    """
    if not isinstance(label, str):
        raise ValueError(f"account label must be a string, not {type(label).__name__}")
    if isinstance(balance, bool) or not isinstance(balance, int) or not 0 <= balance <= MAX_SAFE_INTEGER:
        raise ValueError(f"balance of {label!r} must be an integer in 0..{MAX_SAFE_INTEGER}")
    data = encode_canonical_stdlib({"account": label, "balance": balance})
    return hashlib.sha256(b"\x00" + data).digest(), balance


def interior_node(left: Node, right: Node) -> Node:
    """Return the parent of two nodes: ``(SHA-256(0x01 || lh || ls8 || rh || rs8), ls + rs)``.

    Raises ``ValueError`` if the combined sum does not fit in 8 bytes.
    """
    (lh, ls), (rh, rs) = left, right
    total = ls + rs
    if total > MAX_SUM:
        raise ValueError("sum tree total does not fit in 64 bits")
    digest = hashlib.sha256(b"\x01" + lh + ls.to_bytes(8, "big") + rh + rs.to_bytes(8, "big")).digest()
    return digest, total


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _leaf_nodes(leaves: Sequence[Leaf]) -> list[Node]:
    """Leaf nodes in order, after checking the labels strictly increase (raises ``ValueError``)."""
    nodes: list[Node] = []
    previous: str | None = None
    for label, balance in leaves:
        node = leaf_node(label, balance)
        if previous is not None and not previous < label:
            raise ValueError(f"leaves must be sorted by label with no repeats: {previous!r} then {label!r}")
        previous = label
        nodes.append(node)
    return nodes


def _subtree(nodes: Sequence[Node], start: int, end: int) -> Node:
    """The node over ``nodes[start:end]`` (non-empty), recursion depth O(log n), O(end - start) time."""
    if end - start == 1:
        return nodes[start]
    mid = start + _split(end - start)
    return interior_node(_subtree(nodes, start, mid), _subtree(nodes, mid, end))


def root(leaves: Sequence[Leaf]) -> tuple[bytes, int]:
    """Return ``(root_hash, root_sum)`` of the sum tree over ``leaves`` in O(n).

    Raises ``ValueError`` for unsorted or repeated labels, a bad balance, or a total of ``2**64`` or more.
    """
    nodes = _leaf_nodes(leaves)
    if not nodes:
        return EMPTY_ROOT, 0
    return _subtree(nodes, 0, len(nodes))


def inclusion_proof(leaves: Sequence[Leaf], index: int) -> list[ProofStep]:
    """Return the proof for ``leaves[index]``: ``(sibling_hash, sibling_sum, side)``, leaf level first.

    The proof has at most ``ceil(log2(n))`` steps and is built in O(n). Raises ``ValueError`` like
    :func:`root`, or ``IndexError`` unless ``0 <= index < len(leaves)``.
    """
    nodes = _leaf_nodes(leaves)
    if not 0 <= index < len(nodes):
        raise IndexError(f"leaf index {index} is not in a tree of {len(nodes)} leaves")
    steps: list[ProofStep] = []
    start, end = 0, len(nodes)
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            sibling_hash, sibling_sum = _subtree(nodes, mid, end)
            steps.append((sibling_hash, sibling_sum, "R"))
            end = mid
        else:
            sibling_hash, sibling_sum = _subtree(nodes, start, mid)
            steps.append((sibling_hash, sibling_sum, "L"))
            start = mid
    steps.reverse()
    return steps


def verify_inclusion(
    label: str, balance: int, proof: Sequence[ProofStep], root_hash: bytes, root_sum: int
) -> bool:
    """Return True iff ``(label, balance)`` with ``proof`` folds up to exactly ``(root_hash, root_sum)``.

    Never raises on malformed input (wrong types, a bad side, a hash that is not 32 bytes, a sum outside
    ``0 .. 2**64 - 1``): it returns False.
    """
    try:
        node = leaf_node(label, balance)
        for sibling_hash, sibling_sum, side in proof:
            if not isinstance(sibling_hash, bytes) or len(sibling_hash) != _HASH_SIZE:
                return False
            if isinstance(sibling_sum, bool) or not isinstance(sibling_sum, int):
                return False
            if not 0 <= sibling_sum <= MAX_SUM:
                return False
            if side == "L":
                node = interior_node((sibling_hash, sibling_sum), node)
            elif side == "R":
                node = interior_node(node, (sibling_hash, sibling_sum))
            else:
                return False
    except (ValueError, TypeError):
        return False
    return node == (root_hash, root_sum)
