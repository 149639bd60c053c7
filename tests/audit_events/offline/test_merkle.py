"""The RFC 6962 Merkle tree math: published vectors, attacks on proofs, properties, independence.

The vectors are in ``tests/audit_events/vectors/merkle.json``: the Certificate Transparency test
tree as published (sources named in the file) and a few trees of event hashes computed here.
"""

import ast
import functools
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_events.offline import merkle
from audit_events.offline.merkle import (
    ProofError,
    consistency_proof,
    consistency_proof_for,
    inclusion_proof,
    inclusion_proof_for,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "merkle.json").read_text())
PUBLISHED = VECTORS["published"]
EVENT_TREES = VECTORS["computed"]["trees"]
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _bytes(values):
    return tuple(bytes.fromhex(value) for value in values)


LEAVES = _bytes(PUBLISHED["leaf_hashes"]["hashes"])
ROOTS = {r["size"]: bytes.fromhex(r["root"]) for r in PUBLISHED["roots"]["by_size"]}


@dataclass(frozen=True)
class Inclusion:
    name: str
    leaves: tuple
    index: int
    size: int
    proof: tuple
    root: bytes

    @property
    def leaf(self):
        return self.leaves[self.index]


@dataclass(frozen=True)
class Consistency:
    name: str
    leaves: tuple
    old_size: int
    new_size: int
    proof: tuple
    old_root: bytes
    new_root: bytes


def _cases():
    """Every inclusion and consistency vector of the file, published and computed alike."""
    trees = [("ct", LEAVES, ROOTS, PUBLISHED)]
    for tree in EVENT_TREES:
        roots = {r["size"]: bytes.fromhex(r["root"]) for r in tree["roots"]}
        trees.append((tree["name"], _bytes(tree["leaf_hashes"]), roots, tree))
    inclusions, consistencies = [], []
    for name, leaves, roots, vectors in trees:
        for v in vectors["inclusion"]:
            inclusions.append(
                Inclusion(f"{name}-{v['index']}-in-{v['size']}", leaves, v["index"], v["size"],
                          _bytes(v["proof"]), roots[v["size"]])
            )
        for v in vectors["consistency"]:
            old, new = v["old_size"], v["new_size"]
            consistencies.append(
                Consistency(f"{name}-{old}-to-{new}", leaves, old, new, _bytes(v["proof"]),
                            roots[old], roots[new])
            )
    return inclusions, consistencies


INCLUSIONS, CONSISTENCIES = _cases()


def _flip(value: bytes) -> bytes:
    """``value`` with one bit of its middle byte flipped."""
    middle = len(value) // 2
    return value[:middle] + bytes([value[middle] ^ 1]) + value[middle + 1 :]


# --- the published tree and the computed event trees -------------------------------------


def test_leaf_hashes_are_the_published_ones():
    assert tuple(leaf_hash(bytes.fromhex(data)) for data in PUBLISHED["leaf_inputs"]) == LEAVES


@pytest.mark.parametrize("vector", PUBLISHED["roots"]["by_size"], ids=lambda v: f"size-{v['size']}")
def test_root_of_each_size_is_the_published_one(vector):
    assert root(LEAVES[: vector["size"]]).hex() == vector["root"]


@pytest.mark.parametrize(
    "node", PUBLISHED["subtree_hashes"]["nodes"], ids=lambda n: f"{n['start']}-{n['end']}"
)
def test_inner_nodes_are_the_published_ones(node):
    assert root(LEAVES[node["start"] : node["end"]]).hex() == node["hash"]


def test_the_empty_tree_hashes_to_the_hash_of_nothing():
    assert root([]) == EMPTY_ROOT == ROOTS[0]


@pytest.mark.parametrize("tree", EVENT_TREES, ids=lambda t: t["name"])
def test_event_hashes_are_leaves_through_their_raw_bytes(tree):
    leaves = [leaf_hash(bytes.fromhex(h)) for h in tree["event_hashes"]]
    assert [h.hex() for h in leaves] == tree["leaf_hashes"]
    assert {r["size"]: root(leaves[: r["size"]]).hex() for r in tree["roots"]} == {
        r["size"]: r["root"] for r in tree["roots"]
    }


def test_the_chain_tree_is_built_from_the_hash_chain_vectors():
    chain = json.loads((Path(__file__).parents[1] / "vectors" / "hash_chain.json").read_text())
    (tree,) = [t for t in EVENT_TREES if t["name"] == "hash_chain"]
    assert tree["event_hashes"] == [event["hash"] for event in chain["events"]]


@pytest.mark.parametrize("case", INCLUSIONS, ids=lambda c: c.name)
def test_inclusion_vector_reproduces_and_verifies(case):
    assert tuple(inclusion_proof_for(case.leaves, case.index, case.size)) == case.proof
    assert verify_inclusion(case.leaf, case.index, case.size, list(case.proof), case.root) is True


@pytest.mark.parametrize("case", CONSISTENCIES, ids=lambda c: c.name)
def test_consistency_vector_reproduces_and_verifies(case):
    assert tuple(consistency_proof_for(case.leaves, case.old_size, case.new_size)) == case.proof
    assert verify_consistency(
        case.old_size, case.new_size, case.old_root, case.new_root, list(case.proof)
    ) is True


# --- attacks: every change to a valid proof fails -----------------------------------------


def _proof_changes(proof, extra):
    """Each node's bit flipped, each node dropped, a node added before and after."""
    proof = list(proof)
    for i in range(len(proof)):
        yield f"flip-bit-in-proof[{i}]", proof[:i] + [_flip(proof[i])] + proof[i + 1 :]
        yield f"drop-proof[{i}]", proof[:i] + proof[i + 1 :]
    yield "append-a-node", proof + [extra]
    yield "prepend-a-node", [extra] + proof


def _inclusion_attacks(case):
    leaf, index, size, tree_root = case.leaf, case.index, case.size, case.root
    proof = list(case.proof)
    yield "index-1", (leaf, index - 1, size, proof, tree_root)
    yield "index+1", (leaf, index + 1, size, proof, tree_root)
    yield "size*2", (leaf, index, size * 2, proof, tree_root)
    if size // 2 != size:
        yield "size/2", (leaf, index, size // 2, proof, tree_root)
    for name, changed in _proof_changes(proof, tree_root):
        yield name, (leaf, index, size, changed, tree_root)
    yield "wrong-leaf", (leaf_hash(b"not in the tree"), index, size, proof, tree_root)
    yield "flip-bit-in-leaf", (_flip(leaf), index, size, proof, tree_root)
    yield "flip-bit-in-root", (leaf, index, size, proof, _flip(tree_root))
    yield "empty-tree-root", (leaf, index, size, proof, EMPTY_ROOT)


def _consistency_attacks(case):
    old, new, proof = case.old_size, case.new_size, list(case.proof)
    old_root, new_root = case.old_root, case.new_root
    yield "old_size-1", (old - 1, new, old_root, new_root, proof)
    yield "old_size+1", (old + 1, new, old_root, new_root, proof)
    yield "new_size*2", (old, new * 2, old_root, new_root, proof)
    if new // 2 != new:
        yield "new_size/2", (old, new // 2, old_root, new_root, proof)
    for name, changed in _proof_changes(proof, proof[0] if proof else old_root):
        yield name, (old, new, old_root, new_root, changed)
    yield "append-old-root", (old, new, old_root, new_root, proof + [old_root])
    yield "append-new-root", (old, new, old_root, new_root, proof + [new_root])
    if proof:
        yield "empty-proof", (old, new, old_root, new_root, [])
    if old_root != new_root:
        yield "swap-roots", (old, new, new_root, old_root, proof)
    yield "flip-bit-in-old-root", (old, new, _flip(old_root), new_root, proof)
    yield "flip-bit-in-new-root", (old, new, old_root, _flip(new_root), proof)


def _attack_params(cases, attacks):
    return [
        pytest.param(arguments, id=f"{case.name}:{name}")
        for case in cases
        for name, arguments in attacks(case)
    ]


@pytest.mark.parametrize("arguments", _attack_params(INCLUSIONS, _inclusion_attacks))
def test_changed_inclusion_proof_fails(arguments):
    assert verify_inclusion(*arguments) is False


@pytest.mark.parametrize("arguments", _attack_params(CONSISTENCIES, _consistency_attacks))
def test_changed_consistency_proof_fails(arguments):
    assert verify_consistency(*arguments) is False


def test_a_proof_does_not_bind_the_tree_size():
    """Leaf 0's path in the tree of 5 also "verifies" it in a tree of 8, against the size-5 root.

    RFC 6962 works this way: the verifier trusts the size it is given, so a root is only worth
    checking against together with its size, as a signed checkpoint states them.
    """
    proof = inclusion_proof_for(LEAVES, 0, 5)
    assert verify_inclusion(LEAVES[0], 0, 8, proof, ROOTS[5]) is True
    assert verify_inclusion(LEAVES[0], 0, 8, proof, ROOTS[8]) is False


# --- edge cases ----------------------------------------------------------------------------


def test_a_tree_of_one_leaf_is_its_leaf_and_needs_no_path():
    assert inclusion_proof_for(LEAVES, 0, 1) == []
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0]) is True


@pytest.mark.parametrize("index, size", [(0, 0), (1, 0), (1, 1), (8, 8), (9, 8)])
def test_an_index_outside_the_tree_fails(index, size):
    assert verify_inclusion(LEAVES[0], index, size, [], ROOTS[size]) is False


def test_equal_sizes_need_equal_roots_and_an_empty_proof():
    assert consistency_proof_for(LEAVES, 5, 5) == []
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[5], []) is True
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[6], []) is False
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[5]]) is False


def test_every_tree_extends_the_empty_one():
    assert consistency_proof_for(LEAVES, 0, 8) == []
    assert verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], []) is True
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []) is True


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param((0, 8, ROOTS[1], ROOTS[8], []), id="old-root-not-the-empty-root"),
        pytest.param((0, 8, EMPTY_ROOT, ROOTS[8], [ROOTS[8]]), id="proof-not-empty"),
        pytest.param((0, 0, EMPTY_ROOT, ROOTS[1], []), id="size-0-with-another-new-root"),
        pytest.param((0, 0, ROOTS[1], ROOTS[1], []), id="size-0-with-another-root"),
        pytest.param((1, 0, ROOTS[1], EMPTY_ROOT, []), id="old-larger-than-new"),
        pytest.param((1, 2, ROOTS[1], ROOTS[2], []), id="growth-with-an-empty-proof"),
    ],
)
def test_degenerate_consistency_claims_fail(arguments):
    assert verify_consistency(*arguments) is False


def test_a_power_of_two_old_tree_leaves_its_root_out_of_the_proof():
    """The old tree of 4 is the left half of the tree of 8: the proof is only the right half."""
    nodes = {(n["start"], n["end"]): n["hash"] for n in PUBLISHED["subtree_hashes"]["nodes"]}
    proof = consistency_proof_for(LEAVES, 4, 8)
    assert [p.hex() for p in proof] == [nodes[4, 8]]
    assert verify_consistency(4, 8, ROOTS[4], ROOTS[8], proof) is True
    assert verify_consistency(4, 8, ROOTS[4], ROOTS[8], [ROOTS[4], *proof]) is False


GOOD_INCLUSION = next(c for c in INCLUSIONS if c.name == "ct-5-in-8")
GOOD_CONSISTENCY = next(c for c in CONSISTENCIES if c.name == "ct-6-to-8")
*_HEAD, _LAST = GOOD_INCLUSION.proof
MALFORMED_PROOFS = [
    pytest.param(None, id="none"),
    pytest.param(42, id="a-number"),
    pytest.param(b"".join(GOOD_INCLUSION.proof), id="the-nodes-as-one-bytes"),
    pytest.param("".join(p.hex() for p in GOOD_INCLUSION.proof), id="hex-text"),
    pytest.param([p.hex() for p in GOOD_INCLUSION.proof], id="hex-nodes"),
    pytest.param([*_HEAD, _LAST[:31]], id="a-node-of-31-bytes"),
    pytest.param([*_HEAD, _LAST + b"\0"], id="a-node-of-33-bytes"),
    pytest.param([*GOOD_INCLUSION.proof, b""], id="an-empty-node-at-the-end"),
    pytest.param([None, *GOOD_INCLUSION.proof], id="a-none-node"),
]


@pytest.mark.parametrize("proof", MALFORMED_PROOFS)
def test_malformed_inclusion_proof_fails_without_raising(proof):
    case = GOOD_INCLUSION
    assert verify_inclusion(case.leaf, case.index, case.size, proof, case.root) is False


@pytest.mark.parametrize("proof", MALFORMED_PROOFS)
def test_malformed_consistency_proof_fails_without_raising(proof):
    case = GOOD_CONSISTENCY
    sizes_and_roots = case.old_size, case.new_size, case.old_root, case.new_root
    assert verify_consistency(*sizes_and_roots, proof) is False


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"leaf": GOOD_INCLUSION.leaf.hex()}, id="leaf-as-hex"),
        pytest.param({"leaf": GOOD_INCLUSION.leaf[:31]}, id="leaf-of-31-bytes"),
        pytest.param({"leaf": None}, id="leaf-none"),
        pytest.param({"root": GOOD_INCLUSION.root + b"\0"}, id="root-of-33-bytes"),
        pytest.param({"root": None}, id="root-none"),
        pytest.param({"index": -1}, id="index-negative"),
        pytest.param({"index": "5"}, id="index-text"),
        pytest.param({"index": 5.0}, id="index-float"),
        pytest.param({"size": None}, id="size-none"),
        pytest.param({"size": True}, id="size-bool"),
    ],
)
def test_malformed_inclusion_arguments_fail_without_raising(change):
    case = GOOD_INCLUSION
    arguments = {"index": case.index, "size": case.size, "root": case.root} | change
    leaf = arguments.pop("leaf", case.leaf)
    assert verify_inclusion(leaf, proof=list(case.proof), **arguments) is False


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"old_root": GOOD_CONSISTENCY.old_root.hex()}, id="old-root-as-hex"),
        pytest.param({"old_root": b""}, id="old-root-empty"),
        pytest.param({"new_root": None}, id="new-root-none"),
        pytest.param({"old_size": -6}, id="old-size-negative"),
        pytest.param({"old_size": "6"}, id="old-size-text"),
        pytest.param({"new_size": 8.0}, id="new-size-float"),
    ],
)
def test_malformed_consistency_arguments_fail_without_raising(change):
    case = GOOD_CONSISTENCY
    arguments = {"old_size": case.old_size, "new_size": case.new_size,
                 "old_root": case.old_root, "new_root": case.new_root} | change
    assert verify_consistency(**arguments, proof=list(case.proof)) is False


def _never_called(start, end):
    raise AssertionError("arguments are checked before any node is asked for")


@pytest.mark.parametrize(
    "build, arguments, named",
    [
        pytest.param(inclusion_proof_for, (LEAVES, 8, 8), "index", id="index-equal-to-size"),
        pytest.param(inclusion_proof_for, (LEAVES, -1, 8), "index", id="index-negative"),
        pytest.param(inclusion_proof_for, (LEAVES, 0, 9), "size", id="size-beyond-the-leaves"),
        pytest.param(inclusion_proof, (0, 0, _never_called), "index", id="empty-tree"),
        pytest.param(inclusion_proof, (0, "8", _never_called), "size", id="size-text"),
        pytest.param(consistency_proof_for, (LEAVES, 5, 4), "old_size", id="old-larger-than-new"),
        pytest.param(consistency_proof_for, (LEAVES, 1, 9), "new_size", id="new-size-beyond"),
        pytest.param(consistency_proof, (-1, 4, _never_called), "old_size", id="old-negative"),
    ],
)
def test_proof_builders_name_the_bad_argument(build, arguments, named):
    with pytest.raises(ProofError, match=rf"^{named}\b") as raised:
        build(*arguments)
    assert isinstance(raised.value, ValueError)


# --- properties over trees up to 2^12 leaves -----------------------------------------------

MAX_SIZE = 2**12


@functools.cache
def _leaves():
    """Leaf hashes of 4096 event-hash-like values, built once for the whole module."""
    return tuple(leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(MAX_SIZE))


@functools.cache
def _stored_levels():
    """The complete subtrees' nodes, by level then index, as the portal stores them."""
    levels = [list(_leaves())]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below), 2)])
    return levels


class StoredNodes:
    """A ``subtree`` callable backed by stored complete subtrees instead of the leaves.

    It also checks the builders' promise: every range asked for is a complete subtree or ends
    at the tree's size (then it is hashed from complete ones, O(log n) of them).
    """

    def __init__(self, size):
        self.size = size

    def __call__(self, start, end):
        width = end - start
        assert 0 <= start < end <= self.size
        if width & (width - 1) == 0:
            assert start % width == 0, f"[{start}, {end}) is not a complete subtree"
            return _stored_levels()[width.bit_length() - 1][start // width]
        assert end == self.size, f"[{start}, {end}) is incomplete but not at the right border"
        split = 1 << ((width - 1).bit_length() - 1)
        return node_hash(self(start, start + split), self(start + split, end))


# Sizes at and around powers of two are where the tree's shape changes.
_EDGE_SIZES = sorted({2**p + d for p in range(13) for d in (-1, 0, 1)} & set(range(1, MAX_SIZE + 1)))
tree_sizes = st.one_of(st.integers(1, MAX_SIZE), st.sampled_from(_EDGE_SIZES))


@st.composite
def leaf_in_tree(draw):
    size = draw(tree_sizes)
    return draw(st.integers(0, size - 1)), size


@st.composite
def two_sizes(draw):
    new_size = draw(tree_sizes)
    return draw(st.one_of(st.integers(0, new_size), st.sampled_from([0, 1, new_size]))), new_size


@settings(max_examples=100, deadline=None)
@given(leaf_in_tree())
def test_inclusion_proofs_verify_and_agree_with_stored_nodes(index_and_size):
    index, size = index_and_size
    leaves = _leaves()[:size]
    tree_root = root(leaves)
    proof = inclusion_proof_for(leaves, index, size)

    assert StoredNodes(size)(0, size) == tree_root
    assert inclusion_proof(index, size, StoredNodes(size)) == proof
    assert len(proof) <= (size - 1).bit_length()
    assert verify_inclusion(leaves[index], index, size, proof, tree_root) is True
    for name, changed in _proof_changes(proof, tree_root):
        assert verify_inclusion(leaves[index], index, size, changed, tree_root) is False, name
    other = _leaves()[(index + 1) % MAX_SIZE]
    assert verify_inclusion(other, index, size, proof, tree_root) is False


@settings(max_examples=100, deadline=None)
@given(two_sizes())
def test_consistency_proofs_verify_and_agree_with_stored_nodes(sizes):
    old_size, new_size = sizes
    leaves = _leaves()[:new_size]
    old_root, new_root = root(leaves[:old_size]), root(leaves)
    proof = consistency_proof_for(leaves, old_size, new_size)

    assert consistency_proof(old_size, new_size, StoredNodes(new_size)) == proof
    assert len(proof) <= (new_size - 1).bit_length() + 1
    assert verify_consistency(old_size, new_size, old_root, new_root, proof) is True
    if not proof:
        return  # equal sizes or an empty old tree: nothing to change
    for name, changed in _proof_changes(proof, proof[0]):
        assert verify_consistency(old_size, new_size, old_root, new_root, changed) is False, name
    assert verify_consistency(old_size, new_size, new_root, old_root, proof) is False
    assert verify_consistency(old_size, new_size, old_root, new_root, []) is False


# --- the module stands alone ---------------------------------------------------------------


def test_the_module_imports_only_the_standard_library():
    tree = ast.parse(Path(merkle.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import: the file must run on its own"
            imported.add(node.module.partition(".")[0])
    assert "hashlib" in imported
    assert imported - sys.stdlib_module_names == set()


def test_the_file_runs_on_its_own(tmp_path):
    """Copied out of the project, as into an evidence bundle, with no site-packages at all."""
    (tmp_path / "merkle.py").write_bytes(Path(merkle.__file__).read_bytes())
    vector = PUBLISHED["inclusion"][-1]
    script = (
        "import sys; sys.path.insert(0, '.'); import merkle\n"
        f"leaves = [merkle.leaf_hash(bytes.fromhex(d)) for d in {PUBLISHED['leaf_inputs']!r}]\n"
        f"proof = [bytes.fromhex(p) for p in {vector['proof']!r}]\n"
        f"index, size = {vector['index']}, {vector['size']}\n"
        "assert merkle.verify_inclusion(leaves[index], index, size, proof, merkle.root(leaves[:size]))\n"
        "print(merkle.root(leaves).hex())\n"
    )
    # -I: no environment or user site; -S: no site-packages, so no Django and no project.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PUBLISHED["roots"]["by_size"][8]["root"]


def test_every_public_name_is_documented():
    for name in merkle.__all__:
        doc = getattr(merkle, name).__doc__
        assert doc and doc.strip().splitlines()[0], name
