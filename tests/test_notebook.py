"""The budget notebook, executed top to bottom by a real Jupyter kernel."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOK = EXAMPLES / "budget_notebook.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outputs() -> list[dict]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    # The kernel is a child process: it gets conftest's TIKTOKEN_CACHE_DIR (offline
    # tokenizers) and no provider keys through this environment.
    client.execute(env=dict(os.environ))
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]


def html_outputs(outputs: list[dict]) -> list[str]:
    return [
        output["data"]["text/html"]
        for output in outputs
        if "text/html" in output.get("data", {})
    ]


def test_no_cell_raised(outputs):
    assert [output for output in outputs if output["output_type"] == "error"] == []


def test_nothing_was_written_to_stderr(outputs):
    stderr = [
        output["text"]
        for output in outputs
        if output["output_type"] == "stream" and output["name"] == "stderr"
    ]
    assert stderr == []


def test_the_breakdown_is_an_html_table_of_the_nodes(outputs):
    (table,) = [html for html in html_outputs(outputs) if "<table" in html]
    for node in ("researcher / model", "writer", "planner", "researcher / tools"):
        assert f"<td>{node}</td>" in table
    assert "<caption>LLM spend by node_path</caption>" in table


def test_the_run_cost_is_printed(outputs):
    printed = [
        output["text"]
        for output in outputs
        if output["output_type"] == "stream" and output["name"] == "stdout"
    ]
    assert printed == ["9 calls, $0.026859 of the $0.10 run budget\n"]


def test_the_spend_bar_ends_at_the_runs_cost(outputs):
    bars = [html for html in html_outputs(outputs) if "tokenomics-progress" in html]
    assert bars == [
        '<div class="tokenomics-progress"><b>budget brief</b> '
        '<progress value="0.02685895" max="0.10"></progress> $0.026859 / $0.10</div>'
    ]


def test_three_charts_are_shown_as_png_images(outputs):
    images = [
        base64.b64decode(output["data"]["image/png"])
        for output in outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 3
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
