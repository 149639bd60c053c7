"""Merkle trees of RFC 6962 (Certificate Transparency), with the verification of RFC 9162.

A log is a Merkle tree over an ordered list of leaves. Its root commits to every leaf; an
inclusion proof shows that one leaf is in the tree of a given size, and a consistency proof
shows that the tree of a larger size extends the tree of a smaller one without changing any
earlier leaf. All hashes are SHA-256, 32 raw bytes.

The portal's leaves are events: a leaf's data are the 32 raw bytes of the event's chain hash,
so its leaf hash is ``leaf_hash(bytes.fromhex(event["hash"]))``. Nothing here knows that: the
functions take any bytes.

This module needs the standard library only (``hashlib``) and imports nothing from the project,
so the same file runs inside the portal and, copied into an evidence bundle, on an auditor's
machine.
"""

# Annotations stay strings, so the newer syntax in them does not stop an older Python.
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "ProofError",
    "consistency_proof",
    "consistency_proof_for",
    "inclusion_proof",
    "inclusion_proof_for",
    "leaf_hash",
    "node_hash",
    "root",
    "split",
    "verify_consistency",
    "verify_inclusion",
]

_HASH_SIZE = 32
# RFC 6962 §2.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: ``subtree(start, end)`` returns the Merkle Tree Hash of leaves ``[start, end)``.
Subtree = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof was asked for with arguments that describe no proof."""


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf's data: SHA-256(0x00 ‖ data)."""
    # The 0x00 and 0x01 prefixes keep a leaf from ever passing for an inner node (and back),
    # which would otherwise let someone prove "inclusion" of a node as if it were a leaf.
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child nodes into their parent: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (MTH) of a list of leaf hashes; of none, SHA-256 of nothing."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Built a level at a time, a node without a right sibling moving up unchanged: that is
    # the tree of RFC 6962's recursive definition (split at the largest power of two below
    # n), without the recursion and the copying of slices.
    level = list(leaf_hashes)
    while len(level) > 1:
        parents = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """Return the audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    This is PATH(index, D[0:size]) of RFC 6962 §2.1.1, the nodes ordered from the leaf up.
    ``subtree(start, end)`` must return the MTH of leaves ``[start, end)``. Every range it is
    asked for is a complete subtree (its length a power of two that divides ``start``) or
    ends at ``size``, so a caller holding the complete subtrees' nodes can answer each call
    from O(log n) of them instead of rehashing leaves.

    Raises ``ProofError`` if ``index`` is not a leaf of that tree.
    """
    _check_count("size", size)
    _check_count("index", index)
    if index >= size:
        raise ProofError(
            f"index {index} is out of range for a tree of size {size}: "
            "the index must be less than the size"
        )
    return _path(index, 0, size, subtree)


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """Return the proof that the tree of ``new_size`` leaves extends the one of ``old_size``.

    This is PROOF(old_size, D[0:new_size]) of RFC 6962 §2.1.2; ``subtree`` is as for
    ``inclusion_proof``, every range it is asked for a complete subtree or one ending at
    ``new_size``. The proof is empty when the sizes are equal or ``old_size`` is 0: there is
    nothing to prove (see ``verify_consistency``).

    Raises ``ProofError`` if ``old_size`` is larger than ``new_size``.
    """
    _check_count("old_size", old_size)
    _check_count("new_size", new_size)
    if old_size > new_size:
        raise ProofError(
            f"old_size {old_size} is larger than new_size {new_size}: a consistency proof "
            "goes from an older tree to one at least as large"
        )
    if old_size == 0 or old_size == new_size:
        return []
    return _subproof(old_size, 0, new_size, True, subtree)


def inclusion_proof_for(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Return ``inclusion_proof`` over leaf hashes held in memory (the first ``size`` of them)."""
    _check_count("size", size)
    _check_within("size", size, leaves)
    return inclusion_proof(index, size, _subtree_of(leaves))


def consistency_proof_for(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return ``consistency_proof`` over leaf hashes held in memory."""
    _check_count("new_size", new_size)
    _check_within("new_size", new_size, leaves)
    return consistency_proof(old_size, new_size, _subtree_of(leaves))


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Tell whether ``proof`` shows leaf ``index`` of the tree of ``size`` leaves has that hash.

    The algorithm of RFC 9162 §2.1.3.2. Anything malformed (an index outside the tree, a hash
    or proof node that is not 32 bytes, a proof of the wrong length) gives False, not an
    exception: the inputs usually come from a file someone else wrote.

    The proof binds the index and the root, not the size: a root must be trusted together with
    its size (a signed checkpoint states both).
    """
    path = _hash_list(proof)
    if path is None or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not (_is_count(index) and _is_count(size)) or index >= size:
        return False
    # fn walks up from the leaf and sn from the last leaf; where they meet at the right
    # border of an unbalanced tree, the levels in which a node had no sibling are skipped.
    fn, sn = index, size - 1
    node = leaf_hash
    for sibling in path:
        if sn == 0:
            return False  # more nodes than levels
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and node == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Tell whether ``proof`` shows the tree ``new_root`` of ``new_size`` extends ``old_root``.

    The algorithm of RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots. Every
    tree extends the empty one, so ``old_size`` 0 needs an empty proof and ``old_root`` the
    empty tree's root. Anything malformed gives False, not an exception.
    """
    path = _hash_list(proof)
    if path is None or not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not (_is_count(old_size) and _is_count(new_size)) or old_size > new_size:
        return False
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT and (new_size > 0 or new_root == old_root)
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        # The old tree is then a complete subtree of the new one; the proof leaves out its
        # root, which the verifier already has.
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_node = new_node = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False  # more nodes than levels
        if fn & 1 or fn == sn:
            # A left sibling is in both trees: it goes into both roots.
            old_node = node_hash(sibling, old_node)
            new_node = node_hash(sibling, new_node)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            # A right sibling holds leaves added since: it goes into the new root only.
            new_node = node_hash(new_node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and old_node == old_root and new_node == new_root


def _path(index: int, start: int, end: int, subtree: Subtree) -> list[bytes]:
    """PATH(index - start, D[start:end]), positions absolute."""
    if end - start == 1:
        return []
    middle = start + split(end - start)
    if index < middle:
        return _path(index, start, middle, subtree) + [subtree(middle, end)]
    return _path(index, middle, end, subtree) + [subtree(start, middle)]


def _subproof(old_end: int, start: int, end: int, known: bool, subtree: Subtree) -> list[bytes]:
    """SUBPROOF(old_end - start, D[start:end], known), positions absolute.

    ``known`` says whether the verifier has MTH(D[start:old_end]) already: only while that
    is the old root itself.
    """
    if old_end == end:
        return [] if known else [subtree(start, end)]
    middle = start + split(end - start)
    if old_end <= middle:
        return _subproof(old_end, start, middle, known, subtree) + [subtree(middle, end)]
    return _subproof(old_end, middle, end, False, subtree) + [subtree(start, middle)]


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 6962 splits n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_of(leaves: Sequence[bytes]) -> Subtree:
    return lambda start, end: root(leaves[start:end])


def _is_count(value: object) -> bool:
    # bool is an int subclass; True as a leaf index is a mistake, not a number.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, (bytes, bytearray)) and len(value) == _HASH_SIZE


def _hash_list(proof: object) -> list[bytes] | None:
    """``proof`` as a list of 32-byte hashes, or None if it is anything else."""
    if isinstance(proof, (bytes, bytearray, str)):
        return None  # a string of bytes or hex is not a list of nodes
    try:
        nodes = list(proof)  # type: ignore[call-overload]
    except TypeError:
        return None
    return nodes if all(_is_hash(node) for node in nodes) else None


def _check_count(name: str, value: object) -> None:
    if not _is_count(value):
        raise ProofError(f"{name} must be a whole number of at least 0, not {value!r}")


def _check_within(name: str, size: int, leaves: Sequence[bytes]) -> None:
    if size > len(leaves):
        raise ProofError(f"{name} {size} is larger than the {len(leaves)} leaves given")
