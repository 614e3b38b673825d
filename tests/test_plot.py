"""Charts: bars, lines and files drawn from the records, checked by value."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from langgraph_tokenomics import (
    ConfigurationError,
    TokenomicsCallbackHandler,
    UsageRecord,
)
from langgraph_tokenomics._plot import (
    KIND_COLORS,
    plot_cache_hit_rate,
    plot_context_growth,
    plot_cost_by_node,
    save_report_plot,
)

from .examples import load_research_agent


def call(
    node: str,
    minute: int,
    *,
    prompt: int,
    read: int = 0,
    write: int = 0,
    output: int = 10,
    costs: tuple[str, str, str, str] | None = ("0.001", "0", "0", "0.002"),
) -> UsageRecord:
    parts: list[Decimal | None] = [None] * 4
    if costs is not None:
        parts = [Decimal(part) for part in costs]
    return UsageRecord(
        run_id=f"{node}-{minute}",
        node=node,
        model="m",
        input_tokens=prompt,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
        input_cost=parts[0],
        cache_read_cost=parts[1],
        cache_write_cost=parts[2],
        output_cost=parts[3],
        cost=None if costs is None else sum(map(Decimal, costs), Decimal(0)),
        started_at=datetime(2026, 4, 1, 9, minute, tzinfo=UTC),
    )


AGENT = [
    call("agent", 3, prompt=1400, read=1000, write=300, costs=("1", "2", "3", "4")),
    call("agent", 1, prompt=1000, write=1000, costs=("0", "0", "5", "1")),
    call("agent", 2, prompt=1200, read=1000, write=100, costs=("1", "1", "1", "1")),
]
WRITER = [call("writer", 4, prompt=800, costs=("2", "0", "0", "3"))]
LOCAL = [call("local", 5, prompt=50, costs=None)]
RECORDS = [*AGENT, *WRITER, *LOCAL]


@pytest.fixture
def ax():
    figure = Figure()
    return figure.add_subplot()


@pytest.fixture(autouse=True)
def no_pyplot_figures_left():
    yield
    plt.close("all")


def heights(container) -> list[float]:
    return [bar.get_height() for bar in container]


def test_one_stacked_bar_per_group_and_token_kind(ax):
    plot_cost_by_node(RECORDS, ax=ax)
    assert len(ax.patches) == 3 * 4
    assert [container.get_label() for container in ax.containers] == [
        "uncached input",
        "cache read",
        "cache write",
        "output",
    ]


def test_bar_heights_are_each_groups_cost_of_each_kind(ax):
    plot_cost_by_node(RECORDS, ax=ax)
    # groups costliest first: agent $20, writer $5, local unpriced
    assert [heights(container) for container in ax.containers] == [
        [2.0, 2.0, 0.0],
        [3.0, 0.0, 0.0],
        [9.0, 0.0, 0.0],
        [6.0, 3.0, 0.0],
    ]


def test_bars_stack_on_the_kinds_below(ax):
    plot_cost_by_node(RECORDS, ax=ax)
    output_bars = ax.containers[3]
    assert [bar.get_y() for bar in output_bars] == [14.0, 2.0, 0.0]


def test_groups_with_unpriced_calls_say_so(ax):
    plot_cost_by_node(RECORDS, ax=ax)
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels == ["agent", "writer", "local\n(+1 unpriced)"]


def test_bars_group_by_any_breakdown_key(ax):
    plot_cost_by_node(RECORDS, by="model", ax=ax)
    assert [label.get_text() for label in ax.get_xticklabels()] == ["m\n(+1 unpriced)"]
    assert ax.get_title() == "LLM cost by model and token kind"


def test_context_growth_draws_prompt_sizes_in_start_order(ax):
    plot_context_growth(RECORDS, ax=ax)
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"agent": [1000, 1200, 1400], "writer": [800], "local": [50]}


def test_context_growth_numbers_calls_from_one(ax):
    plot_context_growth(AGENT, ax=ax)
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]


def test_cache_hit_rate_is_the_share_of_prompt_read_from_cache(ax):
    plot_cache_hit_rate(RECORDS, ax=ax)
    (bars,) = ax.containers
    assert heights(bars) == [2000 / 3600 * 100, 0.0, 0.0]
    assert [label.get_text() for label in ax.get_xticklabels()] == [
        "agent",
        "writer",
        "local",
    ]


def test_without_axes_a_new_pyplot_figure_is_drawn():
    ax = plot_cost_by_node(RECORDS)
    assert ax.figure is plt.gcf()
    assert len(ax.patches) == 12


def test_report_file_suffix_must_be_png_or_svg(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        save_report_plot(RECORDS, tmp_path / "report.jpg")
    assert str(raised.value) == (
        f"report plot file must end in .png or .svg, got '{tmp_path / 'report.jpg'}'"
    )


def test_report_svg_is_an_svg_document(tmp_path):
    path = tmp_path / "report.svg"
    save_report_plot(RECORDS, path)
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text


def test_report_does_not_touch_pyplot(tmp_path):
    save_report_plot(RECORDS, tmp_path / "report.png")
    assert plt.get_fignums() == []


def test_missing_matplotlib_names_the_extra(monkeypatch, ax):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"langgraph-tokenomics\[plot\]"):
        plot_cost_by_node(RECORDS, ax=ax)


def test_the_package_never_imports_matplotlib():
    modules = ", ".join(
        [
            "langgraph_tokenomics",
            "langgraph_tokenomics.callbacks",
            "langgraph_tokenomics._export",
            "langgraph_tokenomics._plot",
            "langgraph_tokenomics._progress",
        ]
    )
    code = f"import sys, {modules}; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# -- the demo's report as a PNG -------------------------------------------------------


@pytest.fixture(scope="module")
def demo_png(tmp_path_factory):
    handler = TokenomicsCallbackHandler(tags={"team": "analytics"})
    load_research_agent().run_local(handler)
    path = tmp_path_factory.mktemp("report") / "report.png"
    figure = save_report_plot(handler.records, path, by="node_path")
    return path, figure, handler


def test_the_png_is_a_1000_by_1300_image(demo_png):
    path, _, _ = demo_png
    assert matplotlib.image.imread(path).shape == (1300, 1000, 4)


def test_the_png_is_not_blank(demo_png):
    path, _, _ = demo_png
    pixels = matplotlib.image.imread(path)[..., :3]
    drawn = np.any(pixels < 0.95, axis=-1).mean()
    assert drawn > 0.02


def test_the_png_shows_every_token_kinds_colour(demo_png):
    path, _, _ = demo_png
    pixels = matplotlib.image.imread(path)[..., :3]
    for colour in KIND_COLORS.values():
        matches = np.all(np.abs(pixels - to_rgb(colour)) < 1 / 255, axis=-1)
        assert matches.sum() > 50, colour


def test_the_png_has_four_bars_per_node_path(demo_png):
    _, figure, handler = demo_png
    cost_ax = figure.axes[0]
    node_paths = len(handler.breakdown(by="node_path"))
    assert node_paths == 4
    assert len(cost_ax.patches) == node_paths * 4


def test_the_pngs_bars_add_up_to_the_ledger_total(demo_png):
    _, figure, handler = demo_png
    drawn = sum(bar.get_height() for bar in figure.axes[0].patches)
    assert drawn == pytest.approx(float(handler.total_cost), rel=1e-12)
