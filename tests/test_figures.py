"""What a reader sees in the report's figures, checked on the drawn artists: legend handles, tick label
texts, what the caption promises against what is drawn, and legends kept off the data."""

from __future__ import annotations

import re

import pytest
from matplotlib.legend import Legend
from test_report import SIZES, fake_run

from astraios.analysis import build_report, figures

MODELS = ["xs", "s"]


def drawn(figure):
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def legends(axis) -> list[Legend]:
    return [artist for artist in axis.get_children() if isinstance(artist, Legend)]


def test_figure1_hatches_only_the_base_in_its_legend_and_names_a_size_every_method_scores_alike():
    """The base ranks last, so its bar is the first drawn of every size: the legend must not take its hatch."""
    scores = {("xs", "lora"): 0.125, ("xs", "full"): 0.125, ("xs", "base"): 0.125,
              ("s", "lora"): 0.3, ("s", "full"): 0.4, ("s", "base"): 0.1}
    rows = [{"method": method, "model": model, "average_score": value} for (model, method), value in scores.items()]
    figure = figures.ranking(rows, ["full", "lora", "base"], MODELS, "Figure 1", reference="base")
    (legend,) = legends(figure.axes[0])
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["xs\n(0.125 for every method)", "s", "hatched: base (untuned)"]
    assert [handle.get_hatch() for handle in legend.legend_handles] == [None, None, "//"]
    hatched = [bar for bar in figure.axes[0].patches if bar.get_hatch()]
    assert len(hatched) == len(MODELS)  # the base's bar, one segment per size


def test_figure1_says_when_a_size_scores_nothing_and_hatches_nothing_without_a_base():
    rows = [{"method": method, "model": model, "average_score": 0.0 if model == "xs" else value}
            for model in MODELS for method, value in (("lora", 0.2), ("full", 0.3))]
    (legend,) = legends(figures.ranking(rows, ["full", "lora"], MODELS, "Figure 1").axes[0])
    assert [text.get_text() for text in legend.get_texts()] == ["xs\n(scores 0 for every method)", "s"]
    assert all(handle.get_hatch() is None for handle in legend.legend_handles)


def tick_texts(axis, which: str) -> list[str]:
    ticks = axis.get_majorticklabels() + axis.get_minorticklabels() if which == "both" else axis.get_majorticklabels()
    return [label.get_text() for label in ticks if label.get_text() and label.get_visible()]


@pytest.mark.parametrize("shares, expected", [
    ((0.3, 0.45, 0.9), {"0.3%", "0.5%", "0.9%"}),  # under a decade: every tick (matplotlib wrote 6x10^-1)
    ((0.004, 0.3, 100.0), {"0.01%", "1%", "100%"}),  # over three decades: the decades
    ((1.96, 1.97, 1.99), {"1.96%", "1.97%"}),  # a sliver of a decade: ticks closer than one digit apart
])
def test_figure2_labels_its_log_axis_in_plain_percentages(shares, expected):
    rows = [{"method": method, "model": "xs", "trainable_percent": share} for method, share in zip("abc", shares)]
    figure = figures.trainable_percent(rows, list("abc"), ["xs"], "Figure 2")
    drawn(figure)
    texts = tick_texts(figure.axes[0].yaxis, "both")
    assert texts and all(re.fullmatch(r"\d+(\.\d+)?%", text) for text in texts), texts
    assert expected <= set(texts) and len(set(texts)) == len(texts), texts


METHODS_2026 = ["full", "lora", "ptuning", "ia3", "adapterh", "adapterp", "parallel", "dora", "rslora", "pissa",
                "loraplus", "vera", "loha", "lokr", "qlora"]


def test_figure2_method_names_do_not_overlap_with_fifteen_methods():
    rows = [{"method": method, "model": "xs", "trainable_percent": 1.0 + index}
            for index, method in enumerate(METHODS_2026)]
    figure = figures.trainable_percent(rows, METHODS_2026, ["xs"], "Figure 2")
    renderer = drawn(figure)
    labels = [label for label in figure.axes[0].get_xticklabels() if label.get_text()]
    assert [label.get_text() for label in labels] == METHODS_2026
    boxes = [label.get_window_extent(renderer) for label in labels]
    assert not any(first.overlaps(second) for first, second in zip(boxes, boxes[1:]))


@pytest.mark.parametrize("count", [7, 15, 25])
def test_every_method_has_a_colour_of_its_own(count):
    colors = figures.method_colors([f"m{index}" for index in range(count)])
    assert len(set(colors.values())) == count


def loss_rows(sizes: list[int]) -> list[dict]:
    return [{"method": method, "model": f"m{size}", "base_parameters": size, "final_test_loss": 2.0 - index / 10 + bump,
             "final_train_loss": 1.9 - index / 10 + bump * 1.5}
            for index, size in enumerate(sizes) for method, bump in (("lora", 0.0), ("ia3", 0.2))]


def test_figure3_ticks_each_size_once_and_draws_the_gap_beside_the_test_loss():
    rows = loss_rows([300_000, 400_000, 500_000])  # less than a decade: matplotlib's own labels crowd (3x10^5 4x10^5)
    figure = figures.loss_vs_size(rows, {}, ["lora", "ia3"], "Figure 3")
    renderer = drawn(figure)
    for axis in figure.axes[:2]:
        assert tick_texts(axis.xaxis, "both") == ["300K", "400K", "500K"]
        boxes = [label.get_window_extent(renderer) for label in axis.get_xticklabels() if label.get_text()]
        assert not any(first.overlaps(second) for first, second in zip(boxes, boxes[1:]))
    close = figures.loss_vs_size(loss_rows([980_000, 1_000_000, 3_000_000]), {}, ["lora", "ia3"], "Figure 3")
    renderer = drawn(close)
    assert tick_texts(close.axes[0].xaxis, "both") == ["980K", "3.0M"]  # 1.0M would cover 980K: its tick stays
    boxes = [label.get_window_extent(renderer) for label in close.axes[0].get_xticklabels() if label.get_text()]
    assert not any(first.overlaps(second) for first, second in zip(boxes, boxes[1:]))
    gap = {line.get_label(): list(line.get_ydata()) for line in figure.axes[1].get_lines() if line.get_label() == "ia3"}
    expected = [row["final_test_loss"] - row["final_train_loss"] for row in rows if row["method"] == "ia3"]
    assert gap["ia3"] == pytest.approx(expected, rel=1e-12)


def dotted(figure) -> int:
    return sum(line.get_linestyle() == ":" for line in figure.axes[0].get_lines())


def test_figure3_caption_promises_fit_lines_only_where_they_are_drawn(tmp_path):
    for model in ("m1", "m3", "m7"):
        fake_run(tmp_path / "three", model, "lora", 2.0 * (SIZES[model] / 1e6) ** -0.4 + 1.5, 0.0, trainable=100)
    spec = build_report(tmp_path / "three", tmp_path / "report3").figures[2]
    assert dotted(spec.figure) == 0 and "Dotted" not in spec.caption
    assert "No fitted line is drawn: too few sizes to fit and check: 3 size(s)" in spec.caption
    fake_run(tmp_path / "three", "m15", "lora", 2.0 * 15 ** -0.4 + 1.5, 0.0, trainable=100)
    spec = build_report(tmp_path / "three", tmp_path / "report4").figures[2]
    assert dotted(spec.figure) == 1 and "Dotted: a * N^-b + c fitted on the smaller sizes" in spec.caption


def test_figures_8_and_9_keep_legends_and_notes_off_the_data():
    """As in the shipped grid: P-Tuning's loss is the highest and its interval reaches the top right,
    where the method legend was."""
    methods = ["full", "lora", "ptuning"]
    rows = [{"method": method, "model": model, "final_test_loss": loss, "average_score": score, "trainable": trainable,
             "ci_low": score - 0.1, "ci_high": score + 0.1}
            for model, scale in (("xs", 1.0), ("s", 0.5))
            for method, loss, score, trainable in (("full", 0.45 * scale, 0.19, 1e6 * scale),
                                                   ("lora", 1.0 * scale, 0.15, 1e4 * scale),
                                                   ("ptuning", 2.55 * scale, 0.125, 1e3 * scale))]
    for figure in (figures.loss_vs_score(rows, methods, MODELS, "Figure 9", "Pearson r = -0.7\nn = 6 cells"),
                   figures.params_vs_loss(rows, methods, MODELS, "Figure 8")):
        renderer = drawn(figure)
        axis = figure.axes[0]
        plotted = axis.get_window_extent(renderer)
        beside = legends(axis) + [text for text in axis.texts if text.get_text()]
        assert len(legends(axis)) == 2
        for artist in beside:  # outside the axes, so over no marker and no error bar
            assert artist.get_window_extent(renderer).x0 >= plotted.x1, artist
        markers = [collection for collection in axis.collections if collection.get_offsets().size]
        if axis.get_xscale() == "log":  # Figure 8: trainable parameters as counts, not 2x10^4
            texts = tick_texts(axis.xaxis, "both")
            assert texts and all(re.fullmatch(r"\d+(\.\d+)?[KMB]?", text) for text in texts), texts
        assert markers and all(collection.get_alpha() < 1 for collection in markers if len(collection.get_offsets()) == 1)


def test_tick_texts_are_exact_plain_numbers():
    from astraios.analysis.ticks import count, plain_number

    assert [plain_number(v) for v in (0.6, 0.03, 1.25, 1.965, 100.0, 2e-5)] == ["0.6", "0.03", "1.25", "1.965", "100",
                                                                                "0.00002"]
    assert [count(v) for v in (200, 20_000, 1_500_000, 7e9)] == ["200", "20K", "1.5M", "7B"]
