"""Each end-to-end test has a runtime directory of its own, so `tuiflow ps` and `attach` with no
RUN see only the runs that test started (other suites may run on the same machine at once)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory, monkeypatch):
    runtime = tmp_path_factory.mktemp("xdg-runtime")
    runtime.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime
