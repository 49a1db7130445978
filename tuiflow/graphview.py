"""`tuiflow graph` and `--dry-run` output: the DAG as text (a tree plus stages), Mermaid or DOT."""

from __future__ import annotations

from collections.abc import Mapping

from .engine.graph import downstream_map, topological_levels
from .engine.model import Pipeline, TaskSpec


def deps_of(pipeline: Pipeline) -> dict[str, tuple[str, ...]]:
    return {t.name: t.depends_on for t in pipeline.tasks}


def _kinds(pipeline: Pipeline) -> dict[str, str]:
    """`fan-in` or `sub-pipeline` for each virtual task, to say what it stands for."""
    callers = {t.name.rsplit("/", 1)[0] for t in pipeline.tasks if "/" in t.name}
    return {t.name: ("sub-pipeline" if t.name in callers else "fan-in") for t in pipeline.tasks if t.virtual}


def text(pipeline: Pipeline) -> str:
    """Each task under each of its upstreams (expanded once, then `(see above)`), then the stages."""
    deps = deps_of(pipeline)
    down = downstream_map(deps)
    kinds = _kinds(pipeline)
    levels = topological_levels(deps)
    lines = [f"{pipeline.name}: {len(pipeline.tasks)} tasks, {len(levels)} stages", ""]
    shown: set[str] = set()

    def name(n: str) -> str:
        return f"{n} ({kinds[n]})" if n in kinds else n

    roots = [t.name for t in pipeline.tasks if not t.depends_on]
    for root in roots:
        lines.append(name(root))
        shown.add(root)
        # iterative walk: deep chains must not hit the recursion limit
        stack: list[tuple[list[str], int, str]] = [(down.get(root, []), 0, "")]
        while stack:
            children, i, prefix = stack.pop()
            if i >= len(children):
                continue
            stack.append((children, i + 1, prefix))
            child = children[i]
            last = i == len(children) - 1
            branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
            if child in shown:
                lines.append(f"{prefix}{branch}{name(child)} (see above)")
                continue
            shown.add(child)
            lines.append(f"{prefix}{branch}{name(child)}")
            stack.append((down.get(child, []), 0, prefix + indent))
    lines += ["", "Stages:"]
    width = len(str(len(levels)))
    for i, level in enumerate(levels, 1):
        lines.append(f"  {i:>{width}}. " + ", ".join(level))
    return "\n".join(lines) + "\n"


def _by_group(pipeline: Pipeline) -> dict[str | None, list[TaskSpec]]:
    """Tasks by their `groups:` folder (None: top level), in file order."""
    groups: dict[str | None, list[TaskSpec]] = {}
    for t in pipeline.tasks:
        groups.setdefault(t.group, []).append(t)
    return groups


def _mermaid_text(s: str) -> str:
    return s.replace('"', "#quot;")


def mermaid(pipeline: Pipeline) -> str:
    """A Mermaid flowchart; groups become subgraphs, virtual tasks are drawn round."""
    ids = {t.name: f"t{i}" for i, t in enumerate(pipeline.tasks)}
    lines = ["flowchart TD"]
    for gi, (group, tasks) in enumerate(_by_group(pipeline).items()):
        indent = "  "
        if group is not None:
            lines.append(f'  subgraph g{gi}["{_mermaid_text(group)}"]')
            indent = "    "
        for t in tasks:
            shape = ('(["', '"])') if t.virtual else ('["', '"]')
            lines.append(f"{indent}{ids[t.name]}{shape[0]}{_mermaid_text(t.name)}{shape[1]}")
        if group is not None:
            lines.append("  end")
    for t in pipeline.tasks:
        for up in t.depends_on:
            if up in ids:
                lines.append(f"  {ids[up]} --> {ids[t.name]}")
    return "\n".join(lines) + "\n"


def _dot_text(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(pipeline: Pipeline) -> str:
    """Graphviz DOT; groups become clusters, virtual tasks are small dashed ellipses."""
    lines = [f"digraph {_dot_text(pipeline.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for gi, (group, tasks) in enumerate(_by_group(pipeline).items()):
        indent = "  "
        if group is not None:
            lines.append(f"  subgraph cluster_{gi} {{")
            lines.append(f"    label={_dot_text(group)};")
            indent = "    "
        for t in tasks:
            style = " [shape=ellipse, style=dashed]" if t.virtual else ""
            lines.append(f"{indent}{_dot_text(t.name)}{style};")
        if group is not None:
            lines.append("  }")
    for t in pipeline.tasks:
        for up in t.depends_on:
            lines.append(f"  {_dot_text(up)} -> {_dot_text(t.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plan(pipeline: Pipeline, max_parallel: int | None = None, durations: Mapping[str, float] | None = None) -> str:
    """`--dry-run`: every task in the order a run at this limit would start it, with its stage.

    The order comes from replaying the real Plan (critical path first, pools, limit), so at
    limit 1 it is exactly the order of a real run; with history, estimated start times show.
    """
    from .engine.simulate import simulate

    deps = deps_of(pipeline)
    stage = {n: i for i, level in enumerate(topological_levels(deps), 1) for n in level}
    by_name = {t.name: t for t in pipeline.tasks}
    limit = max_parallel or pipeline.max_parallel
    steps = simulate(pipeline, limit, durations)
    timed = bool(durations)
    lines = [f"{pipeline.name}: {sum(1 for t in pipeline.tasks if not t.virtual)} tasks in "
             f"{max(stage.values(), default=0)} stages, at most {limit} at once (dry run: nothing is started)"]
    width = max((len(t.name) for t in pipeline.tasks if not t.virtual), default=4)
    for i, step in enumerate(steps, 1):
        t = by_name[step.name]
        command = t.command if isinstance(t.command, str) else " ".join(t.command or ())
        first, *rest = command.strip().splitlines() or [""]
        if rest:
            first += " …"
        extra = f"  [foreach over {t.foreach}: expands at run time]" if isinstance(t.foreach, str) else ""
        when = f"+{step.start:7.1f}s  " if timed else ""
        lines.append(f"{i:4}  {when}stage {stage[step.name]:<3} {step.name:<{width}}  {first}{extra}")
    started = {s.name for s in steps}
    for t in pipeline.tasks:  # never started when everything succeeds: say so rather than leave it out
        if not t.virtual and t.name not in started:
            pad = " " * 11 if timed else ""
            lines.append(f"   -  {pad}stage {stage[t.name]:<3} {t.name:<{width}}  [when: {t.when.value}: "
                         f"{NOT_STARTED.get(t.when.value, 'not started when everything succeeds')}]")
    return "\n".join(lines) + "\n"


NOT_STARTED = {"any_failed": "starts only if an upstream fails",
               "all_failed": "starts only if every upstream fails"}

FORMATS = {"text": text, "mermaid": mermaid, "dot": dot}
