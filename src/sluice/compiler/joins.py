"""Join planning: which views a query joins, in what order, and which measures fan out.

A topic's ``joins`` tree says how views connect; a query joins only the views its fields,
filters and references need, plus the views on the path from each to the base view. Without a
topic, the tree is the breadth-first tree of the model's relationships from the base view.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from sluice.model.types import Relationship, SemanticModel, Topic, TopicJoin

TO_MANY = frozenset({"one_to_many", "many_to_many"})


@dataclass(frozen=True, slots=True)
class JoinTree:
    base: str
    parent: dict[str, str]  # view -> the view it is joined to
    rel: dict[str, tuple[Relationship, str]]  # view -> (relationship, type seen from the parent)
    order: tuple[str, ...]  # every reachable view, base first, parents before children

    def __contains__(self, view: object) -> bool:
        return view == self.base or view in self.parent

    def path_to_base(self, view: str) -> list[str]:
        out = [view]
        while out[-1] != self.base:
            out.append(self.parent[out[-1]])
        return out

    def closure(self, views: Iterable[str]) -> list[str]:
        """``views`` plus every view on their paths to the base, in join order."""
        needed: set[str] = {self.base}
        for view in views:
            needed.update(self.path_to_base(view))
        return [v for v in self.order if v in needed]

    def fans_out(self, view: str, joined: Iterable[str]) -> bool:
        """Does joining ``joined`` repeat rows of ``view`` (a to-many step away from it)?"""
        ancestors = set(self.path_to_base(view))
        for other in joined:
            if other == self.base:
                continue
            _, rtype = self.rel[other]
            if other in ancestors:  # walked child -> parent, away from ``view``
                away = {"many_to_one": "one_to_many", "one_to_many": "many_to_one"}.get(
                    rtype, rtype
                )
            else:  # walked parent -> child
                away = rtype
            if away in TO_MANY:
                return True
        return False


def topic_tree(model: SemanticModel, topic: Topic) -> JoinTree:
    parent: dict[str, str] = {}
    rel: dict[str, tuple[Relationship, str]] = {}
    order = [topic.base_view]

    def walk(up: str, nodes: tuple[TopicJoin, ...]) -> None:
        for node in nodes:
            found = model.relationship(up, node.view)
            if found is None or node.view in parent or node.view == topic.base_view:
                continue  # reported by model validation
            parent[node.view] = up
            rel[node.view] = found
            order.append(node.view)
            walk(node.view, node.children)

    walk(topic.base_view, topic.joins)
    return JoinTree(topic.base_view, parent, rel, tuple(order))


def implicit_tree(model: SemanticModel, base: str) -> JoinTree:
    """Breadth-first tree over every relationship, for queries without a topic."""
    parent: dict[str, str] = {}
    rel: dict[str, tuple[Relationship, str]] = {}
    order = [base]
    queue = deque([base])
    while queue:
        up = queue.popleft()
        for r in model.relationships:
            for a, b in ((r.join_from_view, r.join_to_view), (r.join_to_view, r.join_from_view)):
                if a != up or b == base or b in parent:
                    continue
                found = model.relationship(up, b)
                if found is None:
                    continue
                parent[b] = up
                rel[b] = found
                order.append(b)
                queue.append(b)
    return JoinTree(base, parent, rel, tuple(order))
