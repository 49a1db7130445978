"""The pure state machine: transitions, trigger rules and every control, with no processes."""

from __future__ import annotations

import pytest

from tuiflow.engine.model import RetryPolicy, TaskSpec, TaskState, TriggerRule
from tuiflow.engine.plan import Plan

S = TaskState


def t(name, *deps, **kw) -> TaskSpec:
    kw.setdefault("command", "ok")
    return TaskSpec(name=name, depends_on=tuple(deps), **kw)


def plan_of(*specs, limit=4, **kw) -> Plan:
    p = Plan(specs, max_parallel=limit, **kw)
    p.initial()
    return p


def run_to(p: Plan, name: str, state=S.SUCCEEDED, now=0.0):
    """Start tasks until `name` runs, then finish it with `state`."""
    if p.state(name) is not S.RUNNING:
        started = p.startable()
        assert name in started, (name, started, p.state(name))
    return p.finish(name, state, now, "exit 1" if state is S.FAILED else "")


def test_roots_ready_in_critical_path_order():
    p = plan_of(t("short"), t("long1"), t("long2", "long1"), t("long3", "long2"), limit=1)
    assert p.state("short") is S.READY and p.state("long2") is S.PENDING
    assert p.startable() == ["long1"]  # longest remaining path first, though listed second
    assert p.startable() == []  # limit 1
    assert p.why("short", 0) == "no free slot (1/1 running)"
    assert p.why("long2", 0) == "waiting for long1"


def test_weights_from_history_change_the_order():
    p = plan_of(t("a"), t("b"), limit=1, weights={"a": 1.0, "b": 30.0})
    assert p.startable() == ["b"]


def test_limit_and_pools():
    p = plan_of(t("a", pool="db"), t("b", pool="db"), t("c", pool="db"), t("d"), limit=3, pools={"db": 2})
    started = p.startable()
    assert sorted(started) == ["a", "b", "d"]
    assert p.why("c", 0) == "pool db full (2/2)"
    p.finish("d", S.SUCCEEDED, 1)
    assert p.why("c", 0) == "pool db full (2/2)"
    assert p.startable() == []
    p.finish("a", S.SUCCEEDED, 2)
    assert p.startable() == ["c"]


def test_failure_blocks_only_downstream_and_retry_releases_it():
    p = plan_of(t("a"), t("b", "a"), t("c", "b"), t("x"))
    p.startable()
    changed, _ = p.finish("a", S.FAILED, 1, "exit 1", 1)
    assert changed == ["a", "b", "c"]
    assert [p.state(n) for n in "abc"] == [S.FAILED, S.BLOCKED, S.BLOCKED]
    assert p.why("c", 1) == "blocked: upstream a failed"
    assert p.state("x") is S.RUNNING
    p.finish("x", S.SUCCEEDED, 2)
    assert p.finished() and not p.succeeded()
    changed = p.retry("a")
    assert p.state("a") is S.READY and p.state("b") is S.PENDING and p.state("c") is S.PENDING
    assert set(changed) == {"a", "b", "c"}
    assert p.startable() == ["a"]
    assert p.records["a"].attempt == 2
    run_to(p, "a")
    run_to(p, "b")
    run_to(p, "c")
    assert p.finished() and p.succeeded()


def test_automatic_retries_with_backoff():
    p = plan_of(t("a", retry=RetryPolicy(retries=2, delay=2, backoff=3)))
    p.startable()
    p.finish("a", S.FAILED, 10, "exit 1", 1)
    assert p.state("a") is S.RETRYING and p.records["a"].retry_at == 12
    assert p.why("a", 10) == "retry 2/3 in 2s"
    assert not p.finished()
    assert p.due_retries(11) == []
    assert p.due_retries(12) == ["a"] and p.state("a") is S.READY
    p.startable()
    p.finish("a", S.TIMED_OUT, 13, "timed out after 1s")
    assert p.records["a"].retry_at == 13 + 6
    p.due_retries(19)
    p.startable()
    p.finish("a", S.FAILED, 20, "exit 1", 1)
    assert p.state("a") is S.FAILED and p.records["a"].attempt == 3


def test_cancel_during_retry_delay_and_pause_during_retry_delay():
    p = plan_of(t("a", retry=RetryPolicy(retries=1, delay=5)), t("b", "a"))
    p.startable()
    p.finish("a", S.FAILED, 0, "exit 1")
    p.paused = True
    assert p.due_retries(5) == ["a"] and p.state("a") is S.READY
    assert p.startable() == [] and p.why("a", 5) == "run paused"
    p.paused = False
    p2 = plan_of(t("a", retry=RetryPolicy(retries=1, delay=5)), t("b", "a"))
    p2.startable()
    p2.finish("a", S.FAILED, 0, "exit 1")
    changed, to_cancel = p2.cancel("a", 1)
    assert changed == ["a", "b"] and to_cancel == []
    assert p2.state("a") is S.CANCELLED and p2.state("b") is S.BLOCKED
    assert p2.cancel("a", 2) == ([], [])  # idempotent
    assert p2.finished()


def test_cancel_running_waits_for_the_process():
    p = plan_of(t("a"), t("b", "a"))
    p.startable()
    assert p.cancel("a", 0) == ([], ["a"])
    assert p.cancel("a", 0) == ([], [])  # already cancelling: nothing new to signal
    assert p.why("a", 0) == "cancelling"
    assert p.retry("a") == []  # retry while cancelling does nothing yet
    p.finish("a", S.CANCELLED, 1, "cancelled")
    assert p.state("b") is S.BLOCKED
    assert p.retry("a") == ["a", "b"]


def test_lowering_the_limit_below_running_never_kills():
    p = plan_of(*(t(f"t{i}") for i in range(6)), limit=4)
    assert len(p.startable()) == 4
    assert p.set_max_parallel(1)
    assert not p.set_max_parallel(1)
    for i in range(3):
        p.finish(f"t{i}", S.SUCCEEDED, 1)
        assert p.startable() == []
    p.finish("t3", S.SUCCEEDED, 1)
    assert len(p.startable()) == 1
    p.set_max_parallel(10)
    assert len(p.startable()) == 1


@pytest.mark.parametrize("rule,ups,expected", [
    (TriggerRule.ALL_SUCCESS, [S.SUCCEEDED, S.FAILED], S.BLOCKED),
    (TriggerRule.ALL_DONE, [S.SUCCEEDED, S.FAILED], S.READY),
    (TriggerRule.ANY_SUCCESS, [S.SUCCEEDED, None], S.READY),
    (TriggerRule.ANY_SUCCESS, [S.FAILED, S.FAILED], S.BLOCKED),
    (TriggerRule.ANY_FAILED, [S.FAILED, None], S.READY),
    (TriggerRule.ANY_FAILED, [S.SUCCEEDED, S.SUCCEEDED], S.SKIPPED),
    (TriggerRule.ALL_FAILED, [S.FAILED, S.TIMED_OUT], S.READY),
    (TriggerRule.ALL_FAILED, [S.SUCCEEDED, None], S.SKIPPED),
    (TriggerRule.ALL_SUCCESS, [S.SKIPPED, S.SUCCEEDED], S.READY),   # Airflow's none_failed
    (TriggerRule.ALL_SUCCESS, [S.SUCCEEDED, S.CANCELLED], S.BLOCKED),
])
def test_trigger_rules(rule, ups, expected):
    p = plan_of(t("u0"), t("u1"), t("x", "u0", "u1", when=rule))
    p.startable()
    for i, st in enumerate(ups):
        if st is not None:
            p.finish(f"u{i}", st, 1)
    assert p.state("x") is expected


def test_continue_on_failure_counts_as_success_downstream_but_the_run_failed():
    p = plan_of(t("a", continue_on_failure=True), t("b", "a"))
    p.startable()
    p.finish("a", S.FAILED, 1, "exit 1", 1)
    assert p.state("b") is S.READY
    run_to(p, "b")
    assert not p.succeeded()   # as in Dagu: a failure is never an exit 0


def test_cleanup_runs_after_blocked_upstream():
    p = plan_of(t("a"), t("b", "a"), t("cleanup", "b", when=TriggerRule.ALL_DONE))
    p.startable()
    p.finish("a", S.FAILED, 1)
    assert p.state("b") is S.BLOCKED and p.state("cleanup") is S.READY


def test_fail_fast_cancels_running_and_starts_nothing():
    p = plan_of(t("a"), t("b"), t("c"), limit=2, fail_fast=True)
    p.startable()
    changed, to_cancel = p.finish("a", S.FAILED, 1)
    assert to_cancel == ["b"] and p.stopped
    assert p.startable() == []
    p.finish("b", S.CANCELLED, 2, "cancelled")
    assert p.finished() and p.state("c") is S.READY


def test_cancel_run_then_retry_starts_again():
    p = plan_of(t("a"), t("b"), limit=1)
    p.startable()
    changed, to_cancel = p.cancel_run(0)
    assert to_cancel == ["a"] and p.startable() == []
    p.finish("a", S.CANCELLED, 1, "cancelled")
    assert p.finished() and p.why("b", 1) == "run cancelled"
    assert p.cancel_run(2) == ([], [])
    p.retry("a")
    p.set_max_parallel(2)
    assert sorted(p.startable()) == ["a", "b"]


def test_skip_releases_blocked_downstream():
    p = plan_of(t("a"), t("b", "a"))
    p.startable()
    p.finish("a", S.FAILED, 1)
    assert p.skip("a", 2) == ["a", "b"]
    assert p.state("b") is S.READY
    assert p.skip("a", 2) == []
    assert p.skip("b", 2) == ["b"] and p.succeeded()


def test_hold_and_release():
    p = plan_of(t("a"), t("b", "a"), t("c"), limit=4)
    assert p.hold("a") == ["a"]
    assert sorted(p.startable()) == ["c"]
    assert p.why("b", 0) == "waiting for a (held)" and p.why("a", 0) == "held"
    p.finish("c", S.SUCCEEDED, 1)
    assert not p.finished()  # a held task keeps the run open
    assert p.hold("a") == []
    assert p.release("a") == ["a", "a"] or p.state("a") is S.READY
    assert p.startable() == ["a"]
    assert p.hold("a") == [] and p.release("a") == []


def test_rerun_resets_downstream_and_restarts_running_ones():
    p = plan_of(t("a"), t("b", "a"), t("c", "b"))
    run_to(p, "a")
    p.startable()  # b runs
    changed, to_cancel = p.rerun("a")
    assert to_cancel == ["b"] and p.state("a") is S.READY and p.state("c") is S.PENDING
    assert p.startable() == ["a"]
    p.finish("b", S.CANCELLED, 1, "cancelled")
    assert p.state("b") is S.PENDING  # goes back to waiting for the new a
    run_to(p, "a")
    run_to(p, "b")
    assert p.records["b"].attempt == 2
    assert p.rerun("zzz") == ([], []) and p.rerun("c") == ([], [])


def test_virtual_fan_in_succeeds_without_a_process():
    p = plan_of(t("m[x=1]"), t("m[x=2]"), t("m", "m[x=1]", "m[x=2]", command=None), t("after", "m"))
    assert sorted(p.startable()) == ["m[x=1]", "m[x=2]"]
    p.finish("m[x=1]", S.SUCCEEDED, 1)
    changed, _ = p.finish("m[x=2]", S.SUCCEEDED, 2)
    assert changed == ["m[x=2]", "m", "after"]
    assert p.state("m") is S.SUCCEEDED and p.startable() == ["after"]


def test_controls_on_unknown_or_inapplicable_tasks_change_nothing():
    p = plan_of(t("a"))
    assert p.retry("a") == [] and p.release("a") == [] and p.skip("nope", 0) == []
    assert p.cancel("nope", 0) == ([], [])
    assert p.can("hold", "a") and not p.can("retry", "a") and not p.can("retry", None)


def test_ten_thousand_tasks_are_linear_enough():
    import time
    specs = [t(f"t{i}") for i in range(10_000)]
    t0 = time.perf_counter()
    p = plan_of(*specs, limit=8)
    done = 0
    while not p.finished():
        for name in p.startable():
            p.finish(name, S.SUCCEEDED, 0)
            done += 1
    assert done == 10_000 and p.succeeded()
    assert time.perf_counter() - t0 < 5  # generous: catches quadratic behaviour only


def test_random_interleavings_keep_the_books_straight():
    """Any sequence of controls and completions keeps counts, slots and pools consistent."""
    import random
    from collections import Counter

    rng = random.Random(7)
    for _round in range(60):
        specs = []
        for i in range(12):
            deps = tuple(f"t{j}" for j in range(i) if rng.random() < 0.25)
            specs.append(t(f"t{i}", *deps, pool="db" if rng.random() < 0.3 else None,
                           when=rng.choice(list(TriggerRule)), continue_on_failure=rng.random() < 0.2,
                           retry=RetryPolicy(retries=rng.choice([0, 1]), delay=1)))
        p = plan_of(*specs, limit=rng.randint(1, 4), pools={"db": 1}, fail_fast=rng.random() < 0.2)
        now = 0.0
        for _step in range(80):
            now += 0.5
            name = f"t{rng.randrange(12)}"
            op = rng.choice(["start", "finish", "finish", "cancel", "cancel_run", "retry", "retry_failed",
                             "rerun", "skip", "hold", "release", "pause", "resume", "limit", "due"])
            if op == "start":
                p.startable()
            elif op == "finish":
                running = [n for n, r in p.records.items() if r.state is S.RUNNING]
                if running:
                    p.finish(rng.choice(running), rng.choice([S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED]), now)
            elif op == "cancel":
                p.cancel(name, now)
            elif op == "cancel_run":
                p.cancel_run(now)
            elif op == "retry":
                p.retry(name)
            elif op == "retry_failed":
                p.retry_failed()
            elif op == "rerun":
                p.rerun(name)
            elif op == "skip":
                p.skip(name, now)
            elif op == "hold":
                p.hold(name)
            elif op == "release":
                p.release(name)
            elif op == "pause":
                p.paused = True
            elif op == "resume":
                p.paused = False
            elif op == "limit":
                p.set_max_parallel(rng.randint(1, 4))
            else:
                p.due_retries(now)
            actual = Counter(r.state for r in p.records.values())
            assert {k: v for k, v in p.counts().items() if v} == dict(actual)
            running = [r for r in p.records.values() if r.state is S.RUNNING]
            assert p.running == len(running)
            assert p.pool_running.get("db", 0) == sum(1 for r in running if r.spec.pool == "db") <= 1
            for n, r in p.records.items():
                ups = [p.records[u] for u in p.deps[n]]
                ok = sum(1 for u in ups if u.state in (S.SUCCEEDED, S.SKIPPED)
                         or (u.state in (S.FAILED, S.TIMED_OUT, S.CANCELLED) and u.spec.continue_on_failure))
                bad = sum(1 for u in ups if u.state is S.BLOCKED
                          or (u.state in (S.FAILED, S.TIMED_OUT, S.CANCELLED) and not u.spec.continue_on_failure))
                assert p._tally[n] == [ok, bad], n
                if r.state is S.READY:
                    assert any(item[2] == n for item in p._heap), f"{n} ready but not queued"
