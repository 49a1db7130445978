"""Every file in sample_pipelines/invalid/ fails `tuiflow validate` with exit 2 and its expected message.

Each file's first line is `# expect: [FILE:]LINE:COL: message start`; FILE defaults to the file itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

INVALID = Path(__file__).resolve().parents[2] / "sample_pipelines" / "invalid"
EXPECT = re.compile(r"# expect: (?:(?P<file>[\w.-]+\.ya?ml):)?(?P<line>\d+):(?P<col>\d+): (?P<message>.+)")
FILES = sorted(INVALID.glob("*.yaml"))


def test_there_is_one_file_per_error_kind() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_invalid_sample(path: Path) -> None:
    match = EXPECT.fullmatch(path.read_text().splitlines()[0])
    assert match, f"{path.name}: the first line must be '# expect: LINE:COL: message'"
    where = INVALID / (match["file"] or path.name)
    result = subprocess.run([sys.executable, "-m", "tuiflow.cli", "validate", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    expected = f"{where}:{match['line']}:{match['col']}: {match['message']}"
    assert any(line.startswith(expected) for line in lines), f"expected {expected!r} in:\n{result.stderr}"
