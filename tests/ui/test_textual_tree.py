"""The Textual Tree internals of tuiflow/ui/widgets/textual_tree.py, on the installed Textual.

A Textual release that renames or changes them fails here, by name, instead of as a tree that
shows nothing or keeps stale rows.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tuiflow.ui.widgets import textual_tree

LABELS: dict[str, str] = {}


class DataTree(Tree[str]):
    """Labels drawn from LABELS by each node's data, as DagTree draws them from the run model."""

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        icon = ("▾ " if node.is_expanded else "▸ ") if node.allow_expand else "  "
        return Text(icon + LABELS.get(node.data or "", "?"))


class TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        tree = DataTree("root")
        tree.show_root = False
        yield tree


def rows(tree: Tree[str]) -> list[str]:
    return [tree.render_line(y).text.rstrip() for y in range(3)]


def test_the_internals_exist() -> None:
    """The names the adapter reaches for, so a failure says which one went."""
    tree: Tree[str] = Tree("root")
    for name in ("_add_node", "_invalidate"):
        assert callable(getattr(tree, name, None)), f"Textual's Tree has no {name}: see {textual_tree.__name__}"
    node = tree.root
    assert isinstance(getattr(node, "_children", None), list), f"TreeNode._children: see {textual_tree.__name__}"
    assert isinstance(getattr(node, "_allow_expand", None), bool), f"TreeNode._allow_expand: see {textual_tree.__name__}"
    assert isinstance(getattr(node, "_updates", None), int), f"TreeNode._updates: see {textual_tree.__name__}"


async def test_linked_rows_show_after_one_relayout_and_a_forgotten_line_is_redrawn() -> None:
    LABELS.update(build="build", test="test", lint="lint")
    app = TreeApp()
    async with app.run_test(size=(40, 6)) as pilot:
        tree = app.query_one(DataTree)
        build = textual_tree.link(tree, tree.root, "build", allow_expand=True)
        test = textual_tree.link(tree, build, "test", allow_expand=False)
        lint = textual_tree.link(tree, build, "lint", allow_expand=False)
        assert [n.data for n in tree.root.children] == ["build"] and list(build.children) == [test, lint]
        assert build.allow_expand and build.is_expanded and not test.allow_expand
        textual_tree.relayout(tree)
        await pilot.pause()
        assert [build.line, test.line, lint.line] == [0, 1, 2]
        assert [r.split()[-1] for r in rows(tree)] == ["build", "test", "lint"]
        assert rows(tree)[0].startswith("▾ build")

        LABELS["test"] = "test ✓"
        tree.refresh()
        await pilot.pause()
        assert rows(tree)[1].endswith("test"), "the Tree no longer caches drawn lines: is forget_line still needed?"
        textual_tree.forget_line(test)
        tree.refresh()
        await pilot.pause()
        assert rows(tree)[1].endswith("test ✓")
        assert rows(tree)[2].endswith("lint")
