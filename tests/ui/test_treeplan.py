"""Where tasks show in the tree: under each upstream, folders, long chains, late additions."""

from __future__ import annotations

from tuiflow.engine.events import TaskInfo as T
from tuiflow.ui.treeplan import MAX_DEPTH, Row, layout


def shape(rows: list[Row], depth: int = 0) -> list[str]:
    out = []
    for r in rows:
        out.append("  " * depth + ("~" if r.kind == "ref" else "") + r.name)
        out += shape(r.children, depth + 1)
    return out


def test_task_sits_under_first_upstream_and_is_a_dim_reference_under_the_others():
    rows, _ = layout([T("setup", ()), T("a", ("setup",)), T("b", ("setup",)), T("load", ("a", "b"))])
    assert shape(rows) == ["setup", "  a", "    load", "  b", "    ~load"]


def test_matrix_instances_are_a_folder_placed_by_their_upstream():
    rows, _ = layout([T("setup", ()), T("build[r=us]", ("setup",), parent="build"),
                      T("build[r=eu]", ("setup",), parent="build"),
                      T("build", ("build[r=us]", "build[r=eu]"), virtual=True), T("test", ("build",))])
    assert shape(rows) == ["setup", "  build", "    build[r=us]", "    build[r=eu]", "    test"]


def test_groups_are_folders_with_references_across_groups():
    rows, _ = layout([T("x", (), group="sources"), T("y", ("x",), group="transforms")])
    assert shape(rows) == ["sources", "  x", "    ~y", "transforms", "  y"]


def test_sub_pipeline_members_nest_under_their_caller():
    rows, _ = layout([T("prep", ()), T("region/a", ("prep",), parent="region"),
                      T("region/b", ("region/a",), parent="region"),
                      T("region", ("region/b",), virtual=True), T("done", ("region",))])
    assert shape(rows) == ["prep", "  region", "    region/a", "      region/b", "    done"]


def test_a_long_chain_stops_nesting():
    rows, _ = layout([T(f"s{i}", (f"s{i - 1}",) if i else ()) for i in range(50)])
    depths = [r.depth for r in rows[0].walk()]
    assert len(depths) == 50 and max(depths) == MAX_DEPTH - 1


def test_every_task_appears_exactly_once_as_a_full_row():
    infos = [T(f"t{i}", tuple(f"t{j}" for j in range(max(0, i - 3), i))) for i in range(200)]
    rows, _ = layout(infos)
    full = [r.name for top in rows for r in top.walk() if r.kind == "task"]
    assert sorted(full) == sorted(i.name for i in infos)


def test_tasks_added_at_run_time_join_their_folder():
    infos = [T("list", ()), T("proc", ("list",))]
    rows, placement = layout(infos)
    anchor, row, new_group = placement.place_added(T("proc[a]", ("list",), parent="proc"))
    assert anchor is placement.primary["proc"] and row.name == "proc[a]" and not new_group


def test_rows_fit_the_width_giving_way_detail_first():
    from tuiflow.ui.widgets.dag_tree import fit_row

    assert fit_row("build", "0.4s", 20) == ("build", "0.4s", 11)
    name, detail, pad = fit_row("slow_query", "timed out after 1s", 24)
    assert len(name) + pad + len(detail) == 24 and name.startswith("slow_qu") and detail.startswith("timed")
    name, detail, pad = fit_row("a_very_long_task_name_indeed", "exit 1", 20)
    assert name.endswith("…") and detail == "exit 1" and len(name) + pad + len(detail) == 20


def test_wide_characters_count_as_two_cells():
    from rich.cells import cell_len

    from tuiflow.ui.widgets.dag_tree import fit_row

    name, detail, pad = fit_row("日本語のタスク名前です", "1.5s", 16)
    assert cell_len(name) + pad + cell_len(detail) == 16 and name.endswith("…")
