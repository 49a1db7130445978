"""tuiflow uses other packages' public API only: no private name of theirs outside the adapters.

A name starting with `_` is a package's own business and may change in any release; the ones
tuiflow cannot do without are kept in an adapter module with its own test (ALLOWED), so a
release that changes them fails there by name. What this test looks for, in tuiflow/:

* imports of a `_` name, or from a `_` module, of another package (`from _posixsubprocess
  import fork_exec`, `from textual._compositor import ...`);
* reads and writes of `_` attributes that tuiflow itself never defines (`node._updates`,
  `getattr(app, "_driver")`): such an attribute belongs to another package's object.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tuiflow"

ALLOWED = {
    # Textual's Tree internals for building and repainting a 10 000-task tree at speed;
    # checked against the installed Textual by tests/ui/test_textual_tree.py.
    "ui/widgets/textual_tree.py": {"_add_node", "_allow_expand", "_children", "_invalidate", "_updates"},
    # The app's terminal driver, to send desktop notifications (Textual has no public way to write
    # to the terminal); checked by tests/ui/test_textual_driver.py and tests/e2e/test_tui_terminal.py.
    "ui/textual_driver.py": {"_driver"},
}
PUBLIC_WITH_UNDERSCORE = {
    "_exit",                                                       # os._exit, documented
    "_replace", "_asdict", "_fields", "_make", "_field_defaults",  # namedtuple's API
}
ATTRIBUTE_CALLS = {"getattr", "setattr", "hasattr", "delattr"}


def private(name: str) -> bool:
    """`_x`, not `__x__` (dunders) nor `_x_` (enum's sunder hooks)."""
    return name.startswith("_") and not name.endswith("_") and name not in PUBLIC_WITH_UNDERSCORE


def modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(encoding="utf-8"), str(p))
            for p in sorted(PACKAGE.rglob("*.py"))}


def foreign_imports(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "tuiflow" and any(private(p) for p in alias.name.split(".")):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] not in ("tuiflow", "__future__"):
            names = [a.name for a in node.names if private(a.name)]
            if names or any(private(p) for p in node.module.split(".")):
                found.append((node.lineno, f"from {node.module} import {', '.join(names or [a.name for a in node.names])}"))
    return found


def defined_names(trees: dict[str, ast.Module]) -> set[str]:
    """Private names tuiflow defines: functions, classes, variables, arguments, `self._x = ...`,
    and what it imports from itself."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tuiflow")):
                names.update(alias.asname or alias.name for alias in node.names)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
    return {n for n in names if private(n)}


def foreign_attributes(tree: ast.Module, ours: set[str]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) and node.attr not in ours:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_CALLS \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and private(node.args[1].value) \
                and node.args[1].value not in ours:
            found.append((node.lineno, node.args[1].value))
    return found


def test_no_private_name_of_another_package_is_imported() -> None:
    found = [f"tuiflow/{path}:{line}: {what}" for path, tree in modules().items()
             for line, what in foreign_imports(tree)]
    assert found == [], "private names of other packages imported (use their public API):\n" + "\n".join(found)


def test_no_private_attribute_of_another_package_is_used_outside_its_adapter() -> None:
    trees = modules()
    ours = defined_names(trees)
    found = [f"tuiflow/{path}:{line}: {name}" for path, tree in trees.items()
             for line, name in foreign_attributes(tree, ours) if name not in ALLOWED.get(path, ())]
    assert found == [], ("private attributes of other packages' objects (use their public API, or "
                         "keep the use in an adapter module listed in ALLOWED):\n" + "\n".join(found))


def test_the_checks_see_what_they_look_for() -> None:
    """Each check finds a private use when there is one: the tests above cannot pass by being blind."""
    code = ast.parse("from _posixsubprocess import fork_exec\nimport textual._compositor\n"
                     "from textual.widgets.tree import _TreeLine\nfrom os import path\n"
                     "node._updates += 1\nx = getattr(app, '_driver', None)\nself._mine = 1\nself._mine\n")
    assert [line for line, _ in foreign_imports(code)] == [1, 2, 3]
    ours = defined_names({"x.py": code})
    assert ours == {"_mine"}
    assert foreign_attributes(code, ours) == [(5, "_updates"), (6, "_driver")]
