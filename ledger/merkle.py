"""RFC 9162 section 2.1 Merkle tree hashing, inclusion and consistency proofs, as pure functions.

Hashes (SHA-256, 32 bytes):

* empty tree: ``SHA-256()``; leaf: ``SHA-256(0x00 || data)``; interior: ``SHA-256(0x01 || left || right)``;
* ``MTH(D[n])`` splits at ``k``, the largest power of two smaller than ``n``.

Storage model used by the database layer: only *complete* subtrees are stored. Node ``(level, index)`` is
``MTH`` of leaves ``[index * 2**level, (index + 1) * 2**level)``. Every range that appears in an RFC 9162
root or proof decomposes (:func:`perfect_subtrees`) into at most ``log2(n) + 1`` such nodes of strictly
decreasing size, and its ``MTH`` is those node hashes folded right to left (:func:`combine_subtrees`).
So a proof costs one query: compute :func:`inclusion_proof_ranges` / :func:`consistency_proof_ranges`,
collect :func:`nodes_for_ranges`, fetch those nodes, then :func:`assemble_proof`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "assemble_proof",
    "combine_subtrees",
    "consistency_proof",
    "consistency_proof_ranges",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "mth",
    "nodes_for_ranges",
    "perfect_subtrees",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root of the empty tree: ``SHA-256()`` of the empty string."""

Node = tuple[int, int]
Range = tuple[int, int]
SubtreeHash = Callable[[int, int], bytes]


def hash_leaf(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """Reference recursive ``MTH(D)`` where ``leaf_hashes[i] = hash_leaf(D[i])``.

    Literal transcription of RFC 9162 section 2.1.1; O(n) time and O(log n) recursion. Tests use it as
    the oracle; production code uses :class:`CompactRange` or stored subtrees.
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return hash_children(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the RFC 9162 root over an iterable of leaf hashes, streaming in O(log n) memory."""
    tree = CompactRange()
    for h in leaf_hashes:
        tree.append(h)
    return tree.root()


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """Decompose ``[start, end)`` into complete aligned subtrees ``(level, index)``, left to right.

    Node ``(level, index)`` covers ``[index * 2**level, (index + 1) * 2**level)``. The pieces are the
    greedy maximal aligned blocks. For the ranges RFC 9162 uses (``start`` a multiple of the smallest power
    of two ``>= end - start``, e.g. ``[0, n)`` and every range from :func:`inclusion_proof_ranges` or
    :func:`consistency_proof_ranges`) their sizes strictly decrease and ``MTH(D[start:end])`` equals
    :func:`combine_subtrees` of their hashes. Raises ``ValueError`` unless ``0 <= start <= end``.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    nodes: list[Node] = []
    while start < end:
        # Largest block aligned at start: limited by start's lowest set bit and by what remains.
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def combine_subtrees(hashes_left_to_right: Sequence[bytes]) -> bytes:
    """Fold subtree hashes right to left: ``[a, b, c] -> H(1 || a || H(1 || b || c))``.

    With the hashes of :func:`perfect_subtrees` ``(start, end)`` (sizes strictly decreasing) this is
    ``MTH(D[start:end])``. An empty sequence gives :data:`EMPTY_ROOT`.
    """
    if not hashes_left_to_right:
        return EMPTY_ROOT
    acc = hashes_left_to_right[-1]
    for h in reversed(hashes_left_to_right[:-1]):
        acc = hash_children(h, acc)
    return acc


def inclusion_proof_ranges(index: int, size: int) -> list[Range]:
    """Ranges ``[start, end)`` whose ``MTH`` form ``PATH(index, D[size])`` (RFC 9162 2.1.3.1), in order.

    The first range is the leaf's sibling at the bottom, the last is the top-level sibling.
    Raises ``ValueError`` unless ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old: int, new: int) -> list[Range]:
    """Ranges whose ``MTH`` form ``PROOF(old, D[new])`` (RFC 9162 2.1.4.1), in proof order.

    Empty when ``old == 0`` or ``old == new``. Raises ``ValueError`` unless ``0 <= old <= new``.
    """
    if not 0 <= old <= new:
        raise ValueError(f"bad sizes for a consistency proof: {old} -> {new}")
    if old in (0, new):
        return []
    ranges: list[Range] = []
    start, end = 0, new
    complete = True  # SUBPROOF's b: the old tree is the whole current subtree so far
    while old - start != end - start:
        k = _split(end - start)
        if old - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def nodes_for_ranges(ranges: Iterable[Range]) -> set[Node]:
    """All stored nodes ``(level, index)`` needed to hash the given ranges: fetch these in one query."""
    needed: set[Node] = set()
    for start, end in ranges:
        needed.update(perfect_subtrees(start, end))
    return needed


def assemble_proof(ranges: Iterable[Range], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """Hash each range from stored complete-subtree nodes; raises ``KeyError`` if a node is missing."""
    return [combine_subtrees([nodes[n] for n in perfect_subtrees(s, e)]) for s, e in ranges]


def inclusion_proof(index: int, size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """``PATH(index, D[size])`` where ``subtree_hash(start, end)`` returns ``MTH(D[start:end])``."""
    return [subtree_hash(s, e) for s, e in inclusion_proof_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` where ``subtree_hash(start, end)`` returns ``MTH(D[start:end])``."""
    return [subtree_hash(s, e) for s, e in consistency_proof_ranges(old_size, new_size)]


def _all_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Verify an inclusion proof exactly as RFC 9162 section 2.1.3.2; False on any mismatch.

    Every hash (leaf, proof elements, root) must be 32 bytes.
    """
    if not 0 <= index < size or not _all_hashes(leaf_hash, root, *proof):
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Verify a consistency proof exactly as RFC 9162 section 2.1.4.2; False on any mismatch.

    Edge cases the RFC leaves to the caller: ``old_size == new_size`` needs an empty proof and equal roots;
    ``old_size == 0`` needs an empty proof and ``old_root`` equal to :data:`EMPTY_ROOT`.
    """
    if not 0 <= old_size <= new_size or not _all_hashes(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """An append-only tree kept as the stack of its perfect-subtree roots (``popcount(size)`` hashes).

    ``append`` is O(1) amortised and reports the complete nodes it created, ``root()`` is O(log n);
    memory is O(log n) whatever the size, which lets a verifier rebuild a log while streaming it.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []  # hashes of perfect_subtrees(0, size), left to right

    @classmethod
    def from_subtrees(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Resume a tree of ``size`` leaves from the hashes of ``perfect_subtrees(0, size)``, left to right.

        Raises ``ValueError`` if the number of hashes does not match ``size`` or a hash is not 32 bytes.
        """
        if size < 0 or len(hashes) != size.bit_count() or not _all_hashes(*hashes):
            raise ValueError(f"a tree of size {size} needs {max(size, 0).bit_count()} subtree hashes")
        tree = cls()
        tree._size = size
        tree._stack = list(hashes)
        return tree

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def subtrees(self) -> list[tuple[int, int, bytes]]:
        """The current ``(level, index, hash)`` perfect subtrees, left to right (``from_subtrees`` input)."""
        return [
            (level, index, h)
            for (level, index), h in zip(perfect_subtrees(0, self._size), self._stack, strict=True)
        ]

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the complete nodes ``(level, index, hash)`` it created, bottom up.

        The first returned node is the leaf itself at level 0. Raises ``ValueError`` for a non-32-byte hash.
        """
        if not _all_hashes(leaf_hash):
            raise ValueError("leaf hash must be 32 bytes")
        index = self._size
        created = [(0, index, leaf_hash)]
        h = leaf_hash
        level = 0
        while index & 1:  # a left sibling at this level is complete: merge it
            h = hash_children(self._stack.pop(), h)
            index >>= 1
            level += 1
            created.append((level, index, h))
        self._stack.append(h)
        self._size += 1
        return created

    def root(self) -> bytes:
        """``MTH`` of all leaves so far (:data:`EMPTY_ROOT` when empty)."""
        return combine_subtrees(self._stack)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"
