"""The dependency tree (and the stages view): built once, then only repainted row by row.

Labels are not stored: `render_label` draws each visible row from the RunView, so a state
change only bumps the rows showing that task (`TreeNode.refresh`). Colours come from component
classes bound to the theme's `$status-*` variables, so a theme switch recolours everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tuiflow.engine.events import TaskInfo
from tuiflow.engine.model import TaskState
from tuiflow.engine.runview import RunView, TaskView
from tuiflow.ui import status
from tuiflow.ui.treeplan import Row, TreeLayout, layout
from tuiflow.ui.widgets import textual_tree

CHUNK = 400


@dataclass(frozen=True, slots=True)
class NodeRef:
    kind: str          # task | ref | group | stage
    name: str


class DagTree(Tree[NodeRef]):
    DEFAULT_CSS = """
    DagTree {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        padding: 0;
    }
    DagTree > .dagtree--ref { text-style: dim; }
    DagTree:ansi > .tree--guides { color: ansi_bright_black; }  /* not the terminal's black on black */
    DagTree > .dagtree--detail { color: $foreground-muted; }
    DagTree > .dagtree--failed-detail { color: $error; }
    DagTree > .dagtree--group { text-style: bold; }
    """ + status.state_css("DagTree")

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        "dagtree--ref", "dagtree--detail", "dagtree--failed-detail", "dagtree--group",
        *status.STATE_CLASSES}

    BINDINGS = [
        Binding("enter", "app.pin", "Pin pane", show=False),
        Binding("space", "toggle_node", "Fold", show=False),
        Binding("left", "fold", "Fold", show=False),
        Binding("right", "unfold", "Unfold", show=False),
        Binding("end", "app.follow", "Follow log", show=False),
    ]

    # Rows carry a `line` meta, and Rich gives every meta style a new link id: with auto links on,
    # each mouse move would count as a new link under the pointer and repaint the whole tree.
    auto_links = False

    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "

    def __init__(self, model: RunView, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__("run", id=id)
        self.model = model
        self.clock = clock
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False
        self.nodes: dict[str, list[TreeNode[NodeRef]]] = {}     # task -> its rows (first = full)
        self.folders: dict[str, list[TreeNode[NodeRef]]] = {}   # group/stage -> rows
        self.members: dict[str, list[str]] = {}                 # group/stage -> tasks in it
        self.folder_of: dict[str, list[str]] = {}               # task -> groups/stages it is in
        self.placement: TreeLayout | None = None
        self.filtered: set[str] | None = None    # the tasks listed while a filter is on (ui/finding.py)
        self.built = False
        self._styles: dict[str, Style] = {}

    # ------------------------------------------------------------------ build
    def reset(self) -> None:
        """Forget every row, to build the tree again (another view, or a new picture of the run)."""
        self.clear()
        self.nodes.clear()
        self.folders.clear()
        self.members.clear()
        self.folder_of.clear()
        self.placement = None
        self.filtered = None
        self.built = False

    async def build_dag(self, infos: Sequence[TaskInfo]) -> None:
        rows, self.placement = layout(infos)
        await self._add_rows(rows)

    async def build_rows(self, rows: Sequence[Row]) -> None:
        await self._add_rows(rows)

    async def _add_rows(self, rows: Sequence[Row]) -> None:
        """Create nodes in chunks, then lay the tree out once.

        `TreeNode.add` lays the whole tree out again for every node, and adding 30 000 rows
        that way between `sleep(0)`s costs O(n²) with the idle re-layouts. Nodes are linked
        without a layout instead (`textual_tree.link`: labels are drawn from the model, so a
        node needs only its data), and the tree is laid out once at the end.
        """
        queue: list[tuple[TreeNode[NodeRef], Row, str | None]] = [(self.root, r, None) for r in rows]
        i = 0
        while i < len(queue):
            parent, row, folder = queue[i]
            i += 1
            node = textual_tree.link(self, parent, NodeRef(row.kind, row.name), allow_expand=bool(row.children))
            self._register(node, row, folder)
            inner = row.name if row.kind in ("group", "stage") else folder
            queue.extend((node, child, inner) for child in row.children)
            if i % CHUNK == 0:
                await asyncio.sleep(0)
        textual_tree.relayout(self)
        self.built = True
        first = self.first_task()
        if first is not None:
            self.select_task(first)
        elif self.cursor_line < 0 and self.last_line >= 0:
            self.cursor_line = 0

    def first_task(self) -> str | None:
        """The topmost task row (a group folder may come first)."""
        stack = list(reversed(self.root.children))
        while stack:
            node = stack.pop()
            if node.data is not None and node.data.kind == "task":
                return node.data.name
            stack.extend(reversed(node.children))
        return None

    def _add_row(self, parent: TreeNode[NodeRef], row: Row, folder: str | None,
                 before: int | None = None) -> TreeNode[NodeRef]:
        """One row added to a live tree (public API: it lays the tree out again)."""
        node = parent.add(textual_tree.EMPTY, NodeRef(row.kind, row.name), before=before, expand=True,
                          allow_expand=bool(row.children))
        self._register(node, row, folder)
        return node

    def _register(self, node: TreeNode[NodeRef], row: Row, folder: str | None) -> None:
        if row.kind in ("group", "stage"):
            self.folders.setdefault(row.name, []).append(node)
            self.members.setdefault(row.name, [])
        else:
            self.nodes.setdefault(row.name, []).append(node)
            if folder is not None and row.kind == "task":
                self.members.setdefault(folder, []).append(row.name)
                self.folder_of.setdefault(row.name, []).append(folder)

    def add_tasks(self, infos: Iterable[TaskInfo]) -> None:
        """Tasks that joined at run time: one `add` each, nothing rebuilt."""
        if self.placement is None:
            return
        for info in infos:
            if info.name in self.nodes:
                continue
            anchor, row, new_group = self.placement.place_added(info)
            if anchor is None:
                target, folder = self.root, None
            elif anchor.kind == "group":
                if new_group:
                    self._add_row(self.root, anchor, None)
                target, folder = self.folders[anchor.name][0], anchor.name
            else:
                target = self.nodes[anchor.name][0]
                folder = (self.folder_of.get(anchor.name) or [None])[0]
            target.allow_expand = True
            self._add_row(target, row, folder, before=self._members_end(target, info))
            self.refresh_task(info.name)

    def _members_end(self, folder: TreeNode[NodeRef], info: TaskInfo) -> int | None:
        """Where a new instance goes in its folder: after the members, before the downstream."""
        if not info.parent or folder.data is None or folder.data.name != info.parent:
            return None
        for index, child in enumerate(folder.children):
            data = child.data
            view = self.model.tasks.get(data.name) if data is not None else None
            if data is None or data.kind != "task" or view is None or view.info.parent != info.parent:
                return index
        return None

    def watch_hover_line(self, previous: int, line: int) -> None:
        """No hover highlight. Textual's Tree lights up the hovered row's whole subtree, and
        repaints all of it on every move of the mouse: over a deep task tree that was ~190 KiB/s
        of terminal output at 50 motion events a second. A click still selects."""

    def action_fold(self) -> None:
        """←: fold an open folder; elsewhere go up to the row it hangs under (as file trees do)."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent, animate=False)

    def action_unfold(self) -> None:
        """→: unfold a folded row; on an open one go to its first child."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0], animate=False)

    # ---------------------------------------------------------------- repaint
    def _rows_of(self, name: str) -> Iterable[TreeNode[NodeRef]]:
        """Every row that shows `name`'s state: its own, its folder task's, its groups'."""
        yield from self.nodes.get(name, ())
        view = self.model.tasks.get(name)
        parent = view.info.parent if view else None
        for _ in range(50):  # every folder task it is inside shows its state
            if not parent:
                break
            yield from self.nodes.get(parent, ())
            folder = self.model.tasks.get(parent)
            parent = folder.info.parent if folder else None
        for folder in self.folder_of.get(name, ()):
            yield from self.folders.get(folder, ())

    def refresh_task(self, name: str) -> None:
        self.refresh_tasks((name,))

    def refresh_tasks(self, names: Iterable[str]) -> None:
        """Mark rows changed; repaint only if one of them is on screen.

        Forgetting a row's cached line is enough off screen; `TreeNode.refresh` for 10 000
        off-screen rows would cost a region refresh each.
        """
        top = self.scroll_offset.y
        bottom = top + self.size.height
        visible = False
        for name in names:
            for node in self._rows_of(name):
                textual_tree.forget_line(node)
                if top <= node.line < bottom:
                    visible = True
        if visible:
            self.refresh()

    def notify_style_update(self) -> None:
        self._styles.clear()
        super().notify_style_update()

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = self.get_component_rich_style(component, partial=True)
        return style

    # ---------------------------------------------------------------- labels
    def selected_task(self) -> str | None:
        node = self.cursor_node
        if node is None or node.data is None or node.data.kind not in ("task", "ref"):
            return None
        return node.data.name

    def select_task(self, name: str) -> bool:
        nodes = self.nodes.get(name)
        if not nodes:
            return False
        node = nodes[0]
        parent = node.parent
        while parent is not None:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        self.call_after_refresh(self._move_to, node)
        self._move_to(node)
        return True

    def _move_to(self, node: TreeNode[NodeRef]) -> None:
        if node.line >= 0:
            self.move_cursor(node, animate=False)

    def process_label(self, label: str | Text) -> Text:
        """Labels are drawn from the model in render_label; the stored one is never shown."""
        return label if isinstance(label, Text) else textual_tree.EMPTY

    def get_label_width(self, node: TreeNode[NodeRef]) -> int:
        data = node.data
        if data is None:
            return 0
        return len(data.name) + 14

    def render_label(self, node: TreeNode[NodeRef], base_style: Style, style: Style) -> Text:
        data = node.data
        if data is None:
            return Text("")
        prefix = Text(self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE,
                      style=base_style) if node.allow_expand else Text("", style=base_style)
        if data.kind in ("group", "stage"):
            label = self._folder_label(data.name, Style())
        else:
            view = self.model.tasks.get(data.name)
            label = self._task_label(view, data, Style(), node)
        if node is self.cursor_node:
            # the selected row in the cursor's own colours, symbol included: a state colour on
            # the cursor's background measured 1.5-1.9:1 (the pane title shows it in colour)
            label.stylize(style)
        else:
            label.stylize_before(style)
        return Text.assemble(prefix, label)

    def _folder_label(self, name: str, style: Style) -> Text:
        members = [self.model.tasks[m] for m in self.members.get(name, []) if m in self.model.tasks]
        worst = status.worst({shown_state(m, self.model) for m in members})
        done = sum(1 for m in members if m.state in status.DONE)
        text = Text(no_wrap=True, end="")
        text.append(status.SYMBOLS[worst] + " ", self._style(status.component_class(worst)))
        text.append(name, style + self._style("dagtree--group"))
        text.append(f"  {done}/{len(members)}", self._style("dagtree--detail"))
        return text

    def _task_label(self, view: TaskView | None, data: NodeRef, style: Style,
                    node: TreeNode[NodeRef]) -> Text:
        text = Text(no_wrap=True, end="")
        if view is None:
            text.append(f"? {data.name}", style)
            return text
        state = shown_state(view, self.model)
        symbol_style = self._style(status.component_class(state))
        name = display_name(view)
        detail, failed = detail_text(view, self.model, self.clock())
        ref = data.kind == "ref"
        name_style = style + (self._style("dagtree--ref") if ref else Style())
        # right-align the detail within the visible width when there is room
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        used = depth * self.guide_depth + (2 if node.allow_expand else 0)
        name, detail, pad = fit_row(name, detail, self.size.width - 1 - used - 2)
        text.append(status.SYMBOLS[state] + " ",
                    symbol_style + (self._style("dagtree--ref") if ref else Style()))
        text.append(name, name_style)
        if detail:
            text.append(" " * pad, style)
            text.append(detail, self._style("dagtree--failed-detail" if failed else "dagtree--detail")
                        + (self._style("dagtree--ref") if ref else Style()))
        return text


def fit_row(name: str, detail: str, width: int) -> tuple[str, str, int]:
    """Name left, detail right-aligned in `width` cells; when short of room both give way,
    the detail first (down to 8 cells), so neither disappears at 80 columns. Widths are
    terminal cells, so wide (CJK) names line up too."""
    if width <= 0:
        return name, detail, 1 if detail else 0
    name_cells, detail_cells = cell_len(name), cell_len(detail)
    if detail and name_cells + 1 + detail_cells > width:
        keep_name = min(name_cells, max(8, width // 2))
        max_detail = max(8, width - keep_name - 1)
        if detail_cells > max_detail:
            detail = _crop(detail, max_detail)
            detail_cells = cell_len(detail)
    room = width - detail_cells - (1 if detail else 0)
    if name_cells > room and room >= 4:
        name = _crop(name, room)
        name_cells = cell_len(name)
    pad = max(1, room - name_cells + 1) if detail else 0
    return name, detail, pad


def _crop(text: str, cells: int) -> str:
    """`text` cut to `cells` terminal cells, the last one an ellipsis."""
    out = set_cell_size(text, cells - 1).rstrip()
    return out + "…"


def display_name(view: TaskView) -> str:
    """Instances and sub-pipeline members show their own part; the folder gives the rest."""
    name = view.name
    parent = view.info.parent
    if parent and name.startswith(parent):
        rest = name[len(parent):]
        if rest.startswith("/"):
            return rest[1:]
        if rest.startswith("[") and rest.endswith("]"):
            return rest
    return name


def detail_text(view: TaskView, model: RunView, now: float) -> tuple[str, bool]:
    """The right-hand part of a row: duration, attempt, reason; True when it is a failure."""
    parts: list[str] = []
    if view.info.name in model.children:
        kids = [model.tasks[k] for k in model.children[view.info.name] if k in model.tasks]
        parts.append(f"{sum(1 for k in kids if k.state in status.DONE)}/{len(kids)}")
    failed = view.state in status.FAILED
    if view.state.failed and view.reason:
        parts.append(view.reason)
    elif view.state is TaskState.SKIPPED and view.reason:
        parts.append(view.reason)
    elif not view.info.virtual:
        dur = view.duration(now)
        if dur is not None:
            parts.append(status.format_duration(dur))
    if view.attempt > 1:
        parts.append(f"#{view.attempt}")
    return " ".join(parts), failed


def shown_state(view: TaskView, model: RunView, depth: int = 0) -> TaskState:
    """A task's state, or for a folder task (matrix, foreach, sub-pipeline) its members' worst:
    the folder task itself only waits for them, which says nothing while they run or fail."""
    kids = model.children.get(view.name)
    if not kids or depth > 50:
        return view.state
    states = {shown_state(model.tasks[k], model, depth + 1) for k in kids if k in model.tasks}
    return status.worst(states) if states else view.state
