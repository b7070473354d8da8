"""The README's Python examples run as written (in order, sharing one namespace)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
RUNNABLE = [block for block in BLOCKS if "my_policy" not in block]


def test_readme_has_python_examples():
    assert len(RUNNABLE) >= 4


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_example_runs(index, capsys):
    namespace: dict = {}
    for block in RUNNABLE[: index + 1]:
        exec(compile(block, f"README.md example {index}", "exec"), namespace)
