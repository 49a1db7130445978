"""The real Dagu corpus (`../shared/compat/dagu-corpus/`): find it, sort each file into a class.

Used by `tests/engine/test_dagu_corpus.py` and runnable on its own to measure tuiflow's Dagu
compatibility, the figures of issue 12:

    .venv/bin/python -m tests.dagu_corpus                    # the counts, ~1-2 min on 2 cores
    .venv/bin/python -m tests.dagu_corpus --list             # plus one line per file
    .venv/bin/python -m tests.dagu_corpus --keys             # every Dagu key seen, with counts
    .venv/bin/python -m tests.dagu_corpus --tuiflow "/other/.venv/bin/tuiflow"   # another build

Each file goes through `tuiflow validate FILE` and, when it loads and needs nothing but a shell
(`shell_only`), `tuiflow FILE --headless` in a scratch copy of its folder. Classes:

- crash: a traceback, an exit code validate or a run never gives, or no answer within the timeout.
- refused clearly: validate exits 2 and every message is positioned (`file:line:col:`) and gives
  a true reason: a Dagu feature tuiflow does not run (the message says "Dagu"), a sub-DAG or a
  variable that is missing, or the file is one Dagu rejects too (`DAGU_REJECTS`).
- refused wrongly: validate exits 2 for any other reason (a false "unknown key", a misread shape).
- diverges: the file loads but tuiflow does, silently, something other than the file's own Dagu
  release (see `divergences`): a file with no `type` and several roots that Dagu (1.17+) runs as a
  chain, with no note; a step that reads an `output` of a step that is not upstream of it, with no
  warning; `${X.y}` references; typed params; `$1` with only named params; `DAG_*` variables that
  the run does not set; or a run whose exit code is not the one Dagu gives (`DAGU_FAILS`).
- differs with a note: the file loads and one of those differences applies, but tuiflow says so
  (validate prints the note or warning; so does the headless header).
- runs as Dagu: the rest (`ran` says how many of them were also run headless).
"""

from __future__ import annotations

import argparse
import collections
import csv
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def shared_compat() -> Path:
    """`shared/compat/` beside the repository, or beside a folder above it (a git worktree)."""
    for folder in REPO.parents:
        if (folder / "shared" / "compat").is_dir():
            return folder / "shared" / "compat"
    return REPO.parent / "shared" / "compat"


CORPUS = shared_compat() / "dagu-corpus"

#: Files Dagu's own loader rejects (its Go tests of the release say so): refusing them is right.
DAGU_REJECTS = frozenset({
    "v1.17.2/internal/testdata/digraph/err_decode.yaml",     # unknown key
    "v1.17.2/internal/testdata/digraph/err_parse.yaml",      # not YAML of a DAG
    "v1.17.2/internal/testdata/digraph/invalid_env.yaml",    # command substitution that fails
    "v1.17.2/internal/testdata/digraph/invalid_params.yaml",
    "v1.17.2/internal/testdata/digraph/invalid_no_command.yaml",
    "v1.17.2/internal/testdata/digraph/invalid_schedule.yaml",
    "v1.17.2/internal/testdata/digraph/invalid_type.yaml",
    "v1.17.2/internal/testdata/client/invalid_dag.yaml",     # a step without a command
    "v1.2.16/examples/config_err_step_no_command.yaml",
    "v1.3.18/examples/config_err_step_no_command.yaml",
    "v1.23.4/docs__reference__variables.md__L251/dag.yaml",  # a step with env and no command
    "v1.17.2/internal/testdata/cmd/config_startall.yaml",    # Dagu's server configuration, not a DAG
    "v1.17.2/internal/testdata/cmd/config_test.yaml",
})

#: Files that, run by Dagu, end failed, and why. Dagu ends a run failed when a step failed, even
#: one with `continueOn: {failure: true}` (its downstream still runs).
DAGU_FAILS: dict[str, str] = {
    "v1.17.2/internal/testdata/agent/error.yaml": "its one step is `false`",
    "v1.17.2/internal/testdata/agent/retry.yaml": "steps 2, 5 and 9 are `false`",
    "v1.17.2/internal/testdata/client/failure.yaml": "its one step is `false`",
    "v1.17.2/internal/testdata/cmd/status_error.yaml": "its one step is `exit 1`",
    "v1.17.2/internal/testdata/cmd/status_skipped.yaml": "`false` with continueOn failure",
    "v1.23.4/docs__features__data-flow.md__L41/dag.yaml": "reads users.txt, not in the corpus",
    "v1.23.4/docs__reference__yaml.md__L248/dag.yaml": "its workingDir /project does not exist",
    "v1.23.4/docs__writing-workflows__container.md__L183/dag.yaml": "runs npm, not installed",
}

#: Words a shell-only step may start with: builtins and coreutils-level commands.
SHELL_WORDS = frozenset("""
    echo printf sleep true false exit test [ [[ cat ls date env pwd mkdir touch rm cd export seq
    wc grep sed awk head tail sort uniq tr cut tee basename dirname expr set for if then else elif
    fi while do done case esac read shift local return : . source unset cp mv ln chmod find xargs
    bash sh let break continue { } ( ) function trap wait sum printenv whoami hostname uname id
""".split())

CLEAR_REASONS = (
    # a Dagu feature tuiflow does not run (and the wording of tuiflow before issue 12)
    re.compile(r"a Dagu feature tuiflow does not run|a Dagu DAG needs `steps:`|"
               r"Dagu key '[^']*' is not supported by tuiflow"),
    # YAML that Dagu's parser rejects too: a syntax error (but not `---`, which Dagu reads as
    # sub-DAGs), a duplicate key
    re.compile(r"YAML syntax error: (?!expected a single document)|duplicate key"),
    re.compile(r"sub-pipeline '.*' not found|include cycle"),
    re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\} is not defined"),
)
POSITIONED = re.compile(r"^\S.*?:\d+:\d+: ")
_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_DOTTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\.[^}]*\}")


# --- the files ---------------------------------------------------------------------------


def corpus_files(root: Path = CORPUS) -> list[Path]:
    """Every YAML file of the corpus, sorted; [] when the corpus is not there."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def releases(root: Path = CORPUS) -> dict[str, str]:
    """`SOURCES.tsv`: relative path -> the Dagu release whose semantics the file follows."""
    out: dict[str, str] = {}
    tsv = root / "SOURCES.tsv"
    if tsv.is_file():
        with tsv.open(newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[row["file"]] = row["dagu_release"]
    return out


def release_of(rel: str, known: dict[str, str]) -> tuple[int, ...]:
    """The Dagu release of a file: from SOURCES.tsv, else its top folder (`v1.17.2/...`)."""
    text = known.get(rel) or rel.split("/", 1)[0]
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3]) or (0,)


def documents(path: Path) -> list[Any]:
    """The file's YAML documents as plain data ([] when it is not YAML)."""
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError):
        return []


def steps_of(doc: Any) -> list[Any]:
    """A document's steps: a list (items may be strings or nested lists) or a mapping."""
    steps = doc.get("steps") if isinstance(doc, dict) else None
    if isinstance(steps, dict):
        return [dict(v, name=k) if isinstance(v, dict) else v for k, v in steps.items()]
    return list(steps) if isinstance(steps, list) else []


def flat_steps(doc: Any) -> Iterator[Any]:
    for step in steps_of(doc):
        if isinstance(step, list):
            yield from step
        else:
            yield step


def step_texts(step: Any) -> list[str]:
    """The shell text a step runs: its command (string or list) and script."""
    if isinstance(step, str):
        return [step]
    if not isinstance(step, dict):
        return []
    out: list[str] = []
    for key in ("command", "script"):
        value = step.get(key)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.append(" ".join(str(v) for v in value))
    return out


def shell_only(docs: list[Any]) -> bool:
    """Whether running the file needs nothing but a shell and coreutils, quickly.

    Every line of every command and script starts with a word of `SHELL_WORDS` (after `VAR=x`
    assignments), no step names an executor, a container or a sub-DAG file, no sleep is longer
    than 3 s, and nothing repeats or waits for a person.
    """
    if not docs:
        return False
    for doc in docs:
        if not isinstance(doc, dict) or not steps_of(doc):
            return False
        if any(k in doc for k in ("container", "ssh", "handlerOn", "handler_on", "dotenv")):
            return False
        for step in flat_steps(doc):
            if isinstance(step, dict):
                if any(k in step for k in ("executor", "container", "repeatPolicy", "repeat_policy",
                                           "parallel", "approval", "type", "router", "llm", "agent")):
                    return False
                if ("run" in step or "call" in step) and len(docs) == 1:
                    return False
                if isinstance(step.get("shell"), str) and step["shell"].split()[0] not in ("bash", "sh"):
                    return False
            texts = step_texts(step)
            if not texts and not (isinstance(step, dict) and ("run" in step or "call" in step)):
                return False
            for text in texts:
                if text.startswith("#!") and not re.match(r"#!\s*/(usr/)?bin/(env )?(ba)?sh\b", text):
                    return False
                for line in text.splitlines():
                    words = line.strip().split()
                    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                        words.pop(0)
                    if not words or words[0].startswith("#"):
                        continue
                    if words[0] not in SHELL_WORDS:
                        return False
                for seconds in re.findall(r"\bsleep\s+([0-9.]+)", text):
                    if float(seconds) > 3:
                        return False
    return True


# --- the divergences tuiflow might keep quiet about ------------------------------------


def _deps(step: Any) -> list[str]:
    if not isinstance(step, dict):
        return []
    value = step.get("depends", step.get("depends_on"))
    return [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []


def _name(step: Any, index: int) -> str:
    if isinstance(step, dict):
        return str(step.get("name") or step.get("id") or f"step {index + 1}")
    return f"step {index + 1}"


def _graph(doc: dict[str, Any], chain: bool) -> tuple[list[Any], dict[str, list[str]]]:
    """The document's steps (groups flattened) and each step's upstream names, as Dagu links them."""
    names: list[str] = []
    ups: dict[str, list[str]] = {}
    flat: list[Any] = []
    previous: list[str] = []
    for item in steps_of(doc):
        group = item if isinstance(item, list) else [item]
        current = []
        for step in group:
            name = _name(step, len(flat))
            flat.append(step)
            names.append(name)
            current.append(name)
            explicit = isinstance(step, dict) and ("depends" in step or "depends_on" in step)
            ids = {str(s.get("id")): _name(s, i) for i, s in enumerate(flat) if isinstance(s, dict) and "id" in s}
            ups[name] = [ids.get(d, d) for d in _deps(step)] if explicit or not chain else list(previous)
        previous = current
    return flat, ups


def _upstream(ups: dict[str, list[str]], name: str) -> set[str]:
    seen: set[str] = set()
    stack = list(ups.get(name, ()))
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(ups.get(n, ()))
    return seen


def divergences(docs: list[Any], release: tuple[int, ...]) -> list[str]:
    """What Dagu (of `release`) does with this file that plain graph semantics would not.

    Each entry is `kind: detail`; the caller decides whether tuiflow said so.
    """
    found: list[str] = []
    for doc in docs[:1]:  # the main DAG; sub-DAG documents run when called
        if not isinstance(doc, dict):
            continue
        steps = steps_of(doc)
        typ = doc.get("type")
        chain = typ == "chain" or (typ is None and release >= (1, 17))
        flat, ups = _graph(doc, chain)
        roots = [s for s in steps if not isinstance(s, list) and not _deps(s)]
        if typ is None and release >= (1, 17) and len(roots) > 1:
            found.append(f"no-type: {len(roots)} steps without depends, Dagu {'.'.join(map(str, release))} "
                         "runs them as a chain")
        outputs = {}
        for i, step in enumerate(flat):
            if isinstance(step, dict) and isinstance(step.get("output"), str):
                outputs[step["output"].lstrip("$")] = _name(step, i)
        for i, step in enumerate(flat):
            name = _name(step, i)
            upstream = _upstream(ups, name)
            for text in step_texts(step):
                for ref in dict.fromkeys(_REF.findall(text)):
                    owner = outputs.get(ref)
                    if owner is not None and owner != name and owner not in upstream:
                        found.append(f"output-not-upstream: step {name!r} reads ${ref} of {owner!r}")
                if _DOTTED.search(text):
                    found.append(f"dotted-ref: step {name!r} uses {_DOTTED.search(text).group(0)}")
                if "DAG_" in text and re.search(r"\$\{?DAG_[A-Z_]+", text):
                    found.append(f"dag-vars: step {name!r} reads {re.search(r'DAG_[A-Z_]+', text).group(0)}")
        params = doc.get("params")
        if isinstance(params, list) and any(isinstance(p, dict) and {"name", "type"} <= set(p) for p in params):
            found.append("typed-params: params with name/type/required")
        named = (isinstance(params, dict) or (isinstance(params, list) and params
                                               and all(isinstance(p, dict) for p in params)))
        if named and any(re.search(r"\$\{?1\b", t) for s in flat for t in step_texts(s)):
            found.append("named-positional: $1 with only named params")
    return found


# --- running tuiflow ------------------------------------------------------------------------


@dataclass
class Outcome:
    rel: str
    kind: str                     # runs | noted | refused-clearly | refused-wrongly | diverges | crash
    detail: str = ""
    ran: bool = False
    messages: list[str] = field(default_factory=list)


def _call(argv: list[str], timeout: float, cwd: str | None = None) -> tuple[int | None, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return None, ""
    return proc.returncode, proc.stdout + proc.stderr


def tuiflow_sets_dag_vars(tuiflow: list[str]) -> bool:
    """Whether the tuiflow under test gives a Dagu step `DAG_NAME` (probed once on a tiny file)."""
    with tempfile.TemporaryDirectory(prefix="tuiflow-dagu-probe-") as tmp:
        dag = Path(tmp, "probe.yaml")
        dag.write_text('steps:\n  - name: p\n    command: echo "name=[$DAG_NAME]"\n')
        code, out = _call([*tuiflow, str(dag), "--headless", "--state-dir", str(Path(tmp, "state"))], 30)
        return code == 0 and "name=[probe]" in out


def judge_refusal(rel: str, lines: list[str]) -> Outcome:
    """A file validate refused (`lines`: its messages): clearly, or wrongly."""
    wrong = [m for m in lines if not POSITIONED.match(m)
             or rel not in DAGU_REJECTS and not any(r.search(m) for r in CLEAR_REASONS)]
    if wrong or not lines:
        return Outcome(rel, "refused-wrongly", wrong[0] if wrong else "no message", messages=lines)
    return Outcome(rel, "refused-clearly", lines[0], messages=lines)


def judge_loaded(rel: str, docs: list[Any], release: tuple[int, ...], said: str, dag_vars: bool,
                 run_code: int | None = None) -> Outcome:
    """A file that loads: what tuiflow `said` about it (notes), and the exit code of its run if any."""
    silent: list[str] = []
    noted: list[str] = []
    for problem in divergences(docs, release):
        kind = problem.split(":", 1)[0]
        if kind == "dag-vars" and dag_vars:
            continue
        if (kind == "no-type" and "type: chain" in said
                or kind == "output-not-upstream" and "not upstream" in said):
            noted.append(problem)
        else:
            silent.append(problem)
    expected = 1 if rel in DAGU_FAILS else 0
    if run_code is not None and run_code != expected:
        silent.append(f"exit: the run exits {run_code}, Dagu's ends with {expected}")
    ran = run_code is not None
    if silent:
        return Outcome(rel, "diverges", "; ".join(silent), ran)
    if noted:
        return Outcome(rel, "noted", "; ".join(noted), ran)
    return Outcome(rel, "runs", "", ran)


def run_headless(tuiflow: list[str], path: Path, timeout: float) -> tuple[int | None, str]:
    """`tuiflow FILE --headless` in a scratch copy of the file's folder (the corpus stays as it is)."""
    with tempfile.TemporaryDirectory(prefix="tuiflow-dagu-") as tmp:
        work = Path(tmp, "dag")
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".tuiflow"))
        return _call([*tuiflow, str(work / path.name), "--headless", "--state-dir", str(Path(tmp, "state"))],
                     timeout, cwd=str(work))


def classify(path: Path, root: Path, known: dict[str, str], tuiflow: list[str], run: bool,
             dag_vars: bool, timeout: float = 30.0) -> Outcome:
    """Validate (and maybe run) one corpus file and sort it into its class."""
    rel = path.relative_to(root).as_posix()
    code, out = _call([*tuiflow, "validate", str(path)], timeout)
    if code is None or "Traceback" in out or code not in (0, 2):
        return Outcome(rel, "crash", "validate: " + ("timeout" if code is None else f"exit {code}"))
    lines = [line for line in out.splitlines() if line.strip()]
    if code == 2:
        return judge_refusal(rel, lines)
    docs = documents(path)
    run_code = None
    if run and shell_only(docs):
        run_code, out = run_headless(tuiflow, path, timeout)
        if run_code is None or "Traceback" in out or run_code not in (0, 1):
            return Outcome(rel, "crash", "run: " + ("timeout" if run_code is None else f"exit {run_code}"), True)
    outcome = judge_loaded(rel, docs, release_of(rel, known), "\n".join(lines), dag_vars, run_code)
    outcome.messages = lines
    return outcome


def measure(tuiflow: list[str], root: Path = CORPUS, run: bool = True, jobs: int = 2) -> list[Outcome]:
    files = corpus_files(root)
    known = releases(root)
    dag_vars = tuiflow_sets_dag_vars(tuiflow)
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda p: classify(p, root, known, tuiflow, run, dag_vars), files))


# --- the keys ------------------------------------------------------------------------------


def key_census(root: Path = CORPUS) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """How many files use each DAG-level key and each step-level key (nested as `key.sub`)."""
    dag_keys: collections.Counter[str] = collections.Counter()
    step_keys: collections.Counter[str] = collections.Counter()
    for path in corpus_files(root):
        seen_dag: set[str] = set()
        seen_step: set[str] = set()
        for doc in documents(path):
            if not isinstance(doc, dict):
                continue
            seen_dag.update(str(k) for k in doc)
            for step in flat_steps(doc):
                if isinstance(step, str):
                    seen_step.add("(a string)")
                elif isinstance(step, dict):
                    for key, value in step.items():
                        seen_step.add(str(key))
                        if key in ("continueOn", "continue_on", "retryPolicy", "retry_policy",
                                   "repeatPolicy", "repeat_policy") and isinstance(value, dict):
                            seen_step.update(f"{key}.{sub}" for sub in value)
            if any(isinstance(s, list) for s in steps_of(doc)):
                seen_step.add("(a list: parallel group)")
        dag_keys.update(seen_dag)
        step_keys.update(seen_step)
    return dag_keys, step_keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tuiflow", default=str(REPO / ".venv" / "bin" / "tuiflow"),
                        help="the tuiflow command to measure (words split on spaces)")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--no-run", action="store_true", help="validate only")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="one line per file")
    parser.add_argument("--keys", action="store_true", help="every Dagu key seen, with its count")
    args = parser.parse_args(argv)
    root = Path(args.corpus)
    if not root.is_dir():
        print(f"no Dagu corpus at {root}", file=sys.stderr)
        return 2
    if args.keys:
        dag_keys, step_keys = key_census(root)
        for title, counter in (("DAG level", dag_keys), ("step level", step_keys)):
            print(f"## {title}")
            for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
                print(f"{count:5d}  {key}")
        return 0
    outcomes = measure(args.tuiflow.split(), root, run=not args.no_run, jobs=args.jobs)
    if args.list:
        for o in outcomes:
            print(f"{o.kind:16} {'ran ' if o.ran else '    '}{o.rel}  {o.detail[:200]}")
    counts = collections.Counter(o.kind for o in outcomes)
    ran = sum(o.ran for o in outcomes)
    print(f"{len(outcomes)} files: runs as Dagu {counts['runs']} (run headless: "
          f"{sum(o.ran for o in outcomes if o.kind == 'runs')}), differs with a note {counts['noted']}, "
          f"refused clearly {counts['refused-clearly']}, refused wrongly {counts['refused-wrongly']}, "
          f"diverges {counts['diverges']}, crash {counts['crash']}; {ran} run headless in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
