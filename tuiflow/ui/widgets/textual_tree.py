"""The Textual Tree internals the DAG tree relies on, kept here and nowhere else (Textual 8.x).

Textual has no public way to do these two things at the speed a 10 000-task tree needs:

* Build many rows at once. `TreeNode.add` lays the whole tree out again (`refresh(layout=True)`)
  for every node: for the ~30 000 rows of 10 000 tasks, 0.52 s of CPU against 0.33 s for
  linking the nodes and laying out once (`link` + `relayout`).
* Forget one row's drawn line without repainting it. The Tree caches each drawn line under
  the update counters of the nodes on its path; `TreeNode.refresh` bumps the counter and also
  repaints the row's region, which for rows off screen is wasted work on every state change.

tests/ui/test_textual_tree.py checks each of these against the installed Textual: a Textual
that changed them fails there, naming this module, not as a wrong colour in a snapshot.
"""

from __future__ import annotations

from typing import TypeVar

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

D = TypeVar("D")
EMPTY = Text("")


def link(tree: Tree[D], parent: TreeNode[D], data: D, *, allow_expand: bool) -> TreeNode[D]:
    """A new expanded last child of `parent` with an empty label; not shown until `relayout`."""
    node = tree._add_node(parent, EMPTY, data, expand=True)
    node._allow_expand = allow_expand
    parent._children.append(node)
    return node


def relayout(tree: Tree[D]) -> None:
    """Lay the tree out again (once, after `link`ing rows)."""
    tree._invalidate()


def forget_line(node: TreeNode[D]) -> None:
    """Drop the node's cached line: it is drawn anew, from its data, when next on screen."""
    node._updates += 1


__all__ = ["EMPTY", "link", "relayout", "forget_line"]
