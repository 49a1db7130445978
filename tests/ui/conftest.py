"""Every UI test's run folder (helpers.make_app without `tmp=`) lives in its own tmp_path, which
pytest removes, not in a /tmp folder of its own that nobody does."""

import pytest

from tests.ui import helpers


@pytest.fixture(autouse=True)
def _run_folders_in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.setattr(helpers, "DEFAULT_ROOT", tmp_path)
