"""HashRing places keys exactly where django-valkey 0.4.1 does."""

from __future__ import annotations

from django_valkey.hash_ring import HashRing


class Node:
    def __init__(self, i):
        self.i = i

    def __str__(self):
        return f"node:{self.i}"


def test_reference_vectors():
    nodes = [Node(i) for i in range(3)]
    ring = HashRing(nodes)
    placed = [ring.get_node(f"test{i}").i for i in range(10)]
    assert placed == [0, 2, 1, 2, 2, 2, 2, 0, 1, 1]


def test_reference_vectors_for_urls():
    db1, db2 = "valkey://127.0.0.1:6379?db=1", "valkey://127.0.0.1:6379?db=2"
    ring = HashRing([db1, db2])
    expected = [db1, db2, db2, db1] + [db2] * 5 + [db1] * 3
    assert [ring(f":1:k{i}") for i in range(12)] == expected
    counts = {db1: 0, db2: 0}
    for i in range(10_000):
        counts[ring(f":1:k{i}")] += 1
    assert counts == {db1: 5353, db2: 4647}


def test_rings_are_independent_and_editable():
    a = HashRing(["a", "b"])
    b = HashRing(["c"])
    assert a.nodes == ["a", "b"] and b.nodes == ["c"]
    a.remove_node("b")
    assert {a(f"k{i}") for i in range(50)} == {"a"}
    assert HashRing().get_node("x") is None
    assert [node for _, node in a.iter_nodes("k")][:1] == ["a"]
