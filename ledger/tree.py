"""Reads of the stored Merkle tree: size, root and RFC 9162 proofs from stored complete subtrees.

Every root or proof needs O(log n) stored nodes, fetched in one query: never a rehash of the log.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Max

from ledger import merkle
from ledger.models import LedgerLeaf, LedgerNode


class MissingNode(LookupError):
    """A subtree the tree should have is not stored (the tree is damaged or the size is out of range)."""


def tree_size() -> int:
    """The number of sequenced leaves."""
    last = LedgerLeaf.objects.aggregate(last=Max("seq"))["last"]
    return 0 if last is None else last + 1


def node_hashes(coordinates: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """{(level, index): hash} for the requested stored subtrees, in one query. Raises MissingNode."""
    wanted = set(coordinates)
    if not wanted:
        return {}
    rows = LedgerNode.objects.filter(pk__in=list(wanted)).values_list("level", "index", "hash")
    found = {(level, index): bytes(digest) for level, index, digest in rows}
    missing = wanted - found.keys()
    if missing:
        raise MissingNode(f"Stored tree is missing subtrees {sorted(missing)[:5]}")
    return found


def range_hashes(ranges: list[tuple[int, int]]) -> list[bytes]:
    """MTH(D[start:end]) for each range, from the complete subtrees that make it up (one query)."""
    pieces = [merkle.perfect_subtrees(start, end) for start, end in ranges]
    stored = node_hashes(coordinate for piece in pieces for coordinate in piece)
    return [merkle.combine_subtrees([stored[coordinate] for coordinate in piece]) for piece in pieces]


def root_hash(size: int) -> bytes:
    """The RFC 9162 root of the first `size` leaves."""
    if size == 0:
        return merkle.combine_subtrees([])
    return range_hashes([(0, size)])[0]


def inclusion_proof(index: int, size: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 section 2.1.3.1)."""
    return range_hashes(merkle.inclusion_proof_ranges(index, size))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof between tree sizes old_size <= new_size (RFC 9162 section 2.1.4.1)."""
    return range_hashes(merkle.consistency_proof_ranges(old_size, new_size))
