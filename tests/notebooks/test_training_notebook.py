"""Runs notebooks/training.ipynb top to bottom (toy sizes: a few minutes on two CPU cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "training.ipynb"


@pytest.mark.slow
def test_training_notebook_runs(tmp_path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("trl")
    from adapters.models import embedded_model_path

    try:
        embedded_model_path()
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"embedded model unavailable: {error}")
    monkeypatch.setenv("LLM_GYM_NOTEBOOK_DIR", str(tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parents[1])}},
    )
    client.execute()
    outputs = "".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "kept 16 of 16 games" in outputs
    assert "assistant only" in outputs
    assert "win_reward" in outputs
    assert (tmp_path / "grpo" / "rewards.png").stat().st_size > 0
    assert (tmp_path / "sft" / "config.json").is_file()
