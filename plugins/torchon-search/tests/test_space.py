"""Search-space tags: where they may be, what they accept, and the errors (FILE:LINE:COL) for what they do not."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from search_helpers import TOY, torchon, write_config

import torchon.plugins as plugins_module
from torchon.config import ConfigError, loads
from torchon.config.nodes import TagNode
from torchon_search.space import find_dimensions, grid_points


@pytest.fixture(autouse=True)
def manager() -> Iterator[plugins_module.PluginManager]:
    manager = plugins_module.PluginManager.from_options(["search"], autoload=False)
    previous = plugins_module.set_manager(manager)
    yield manager
    plugins_module.set_manager(previous)


def build(body: str):  # type: ignore[no-untyped-def]
    text = f"toy: {TOY}\n---\n" + textwrap.dedent(body).lstrip()
    return loads(text, "exp.yaml").build().root


def error(body: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build(body)
    return info.value


SEARCH = """
!Search
trial: !toy.Train
  model: !toy.Model {{width: {width}}}
  lr: {lr}
metric: loss
"""


def test_dimensions_of_every_kind_and_alias() -> None:
    search = build(
        """
        !Search
        trial: !toy.Train
          model: !choice [!toy.Model {width: !g [2, 4]}, !toy.Other {depth: !randint [1, 3]}]
          lr: !loguniform [1e-4, 1e-1]
          epochs: !grid [1, 2]
          sleep: !uniform [0.0, 0.01]
        metric: loss
        """
    )
    dims = search._dims
    assert [(d.name, d.kind) for d in dims] == [
        ("model", "choice"),
        ("model[0].width", "grid"),
        ("model[1].depth", "randint"),
        ("lr", "loguniform"),
        ("epochs", "grid"),
        ("sleep", "uniform"),
    ]
    assert dims[1].parent is dims[0] and dims[1].parent_option == 0
    assert (dims[3].low, dims[3].high) == (1e-4, 1e-1)
    assert search._options.algorithm == "random"  # not every dimension is a grid


def test_grid_points_follow_the_chosen_options() -> None:
    search = build(
        """
        !Search
        trial: !toy.Train
          model: !grid [!toy.Model {width: !grid [2, 4, 8]}, !toy.Other {depth: !grid [1, 2]}]
          lr: !grid [0.1, 0.2]
        metric: loss
        """
    )
    points = grid_points(search._dims, ("grid", "choice"))
    assert len(points) == (3 + 2) * 2
    assert {"model": 1, "model[1].depth": 0, "lr": 1} in points
    assert all(("model[0].width" in p) == (p["model"] == 0) for p in points)
    assert search._options.algorithm == "grid"


@pytest.mark.parametrize(
    ("lr", "line", "col", "what"),
    [
        ("!uniform [0.5, 0.5]", 6, 7, "cannot vary: its lower bound must be below its upper bound"),
        ("!uniform [1.0, 0.1]", 6, 7, "cannot vary"),
        ("!loguniform [0, 1]", 6, 20, "a log-uniform range needs a lower bound above 0"),
        ("!uniform [0.1]", 6, 7, "takes a list of two numbers"),
        ("!uniform 0.3", 6, 7, "takes a list of two numbers"),
        ("!uniform [0.1, high]", 6, 22, "upper bound must be a finite number"),
        ("!grid []", 6, 7, "takes a non-empty list of values"),
        ("!choice 0.3", 6, 7, "takes a non-empty list of values, got 0.3"),
        ("!grid [0.1, fast]", 6, 19, "option 2 of !grid for argument 'lr' of !toy.Train expects float"),
        ("!randint [1, 10]", None, None, None),
    ],
)
def test_bad_ranges_and_options_point_at_the_tag(
    lr: str, line: int | None, col: int | None, what: str | None
) -> None:
    body = SEARCH.format(width=4, lr=lr)
    if what is None:
        build(body)  # an int range is fine for a float
        return
    exc = error(body)
    assert exc.mark is not None and (exc.mark.line, exc.mark.col) == (line, col), exc.format()
    assert what in exc.what
    assert exc.fix


def test_randint_needs_integers_and_floats_do_not_fit_an_int() -> None:
    exc = error(SEARCH.format(width="!randint [1.5, 4]", lr=0.1))
    assert "!randint's bounds must be integers" in exc.what and exc.mark.line == 5
    exc = error(SEARCH.format(width="!uniform [1, 4]", lr=0.1))
    assert "gives floats, but argument 'width' of !toy.Model expects int (use !randint" in exc.what


def test_a_search_tag_where_nothing_varies_it() -> None:
    # in the options of !Search itself
    exc = error(
        "!Search\ntrial: !toy.Train {model: !toy.Model {}}\nmetric: loss\nnum_samples: !grid [1, 2]\n"
    )
    assert (exc.mark.line, exc.mark.col) == (6, 14)
    assert "!grid is not inside the trial of a !Search" in exc.what
    # in a config that searches nothing
    exc = error("!toy.Train\nmodel: !toy.Model {width: !choice [2, 4]}\n")
    assert exc.mark is not None and exc.mark.line == 4 and "nothing varies it" in exc.what


def test_grid_algorithm_cannot_enumerate_a_range() -> None:
    exc = error(SEARCH.format(width=4, lr="!uniform [0.0, 1.0]") + "algorithm: grid\n")
    assert "algorithm grid cannot enumerate !uniform lr" in exc.what and exc.mark.line == 6


@pytest.mark.parametrize(
    ("option", "what"),
    [
        ("pruner: ashaa", "unknown pruner 'ashaa' (did you mean asha?)"),
        ("algorithm: tpee", "unknown algorithm 'tpee' (did you mean tpe?)"),
        ("mode: maximum", "mode must be min or max, got 'maximum'"),
        ("metirc: loss", "!Search has no argument 'metirc' (did you mean metric?)"),
        ("max_failures: -1", "max_failures must be a whole number, 0 or more"),
        ("save: some", "save must be one of best, all, none"),
        ("resources: {gpu: 1}", "unknown resource 'gpu' (did you mean gpus?)"),
        ("num_samples: 0", "num_samples must be a whole number of at least 1"),
        ("executor: rey", "executor 'rey' is not registered"),
    ],
)
def test_bad_search_options(option: str, what: str) -> None:
    exc = error(SEARCH.format(width=4, lr=0.1) + option + "\n")
    assert what in exc.what, exc.what
    assert exc.mark is not None and exc.mark.line == 8


def test_search_needs_a_metric() -> None:
    exc = error(SEARCH.format(width=4, lr="!grid [0.1, 0.2]").replace("metric: loss\n", ""))
    assert exc.what == "!Search is missing required argument(s): metric" and exc.mark is not None
    assert exc.mark.line == 3 and "metric: ..." in (exc.fix or "")


EXPERIMENT = """
!Experiment
pipeline:
  train: !toy.Train
    model: !toy.Model {width: !grid [2, 4]}
search:
  train: {metric: loss, mode: min}
"""


@pytest.mark.parametrize(
    ("option", "what", "line"),
    [
        # top-level options apply to every stage, and are checked where they are written
        ("mode: top", "!Experiment: mode must be min or max, got 'top'", 9),
        ("reduse: {train: 1}", "!Experiment has no argument 'reduse' (did you mean reduce?)", 9),
        (
            "algorithm: grid\nnum_samples: 0",
            "!Experiment: num_samples must be a whole number of at least 1",
            10,
        ),
        ("max_concurrent: 0", "!Experiment: max_concurrent must be a whole number of at least 1", 9),
    ],
)
def test_experiment_options_are_the_search_options(option: str, what: str, line: int) -> None:
    exc = error(EXPERIMENT + option + "\n")
    assert exc.what.startswith(what), exc.what
    assert exc.mark is not None and exc.mark.line == line


def test_a_stage_option_goes_to_its_stage() -> None:
    exc = error(EXPERIMENT.replace("{metric: loss, mode: min}", "{metric: loss, mode: min, seeed: 1}"))
    assert exc.what.startswith("stage train: unknown search option 'seeed' (did you mean seed?)"), exc.what
    assert exc.mark is not None and (exc.mark.line, exc.mark.col) == (8, 36)


def test_the_cli_reports_config_errors_with_position_and_exit_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, SEARCH.format(width=4, lr="!loguniform [0, 1]"))
    proc = torchon("run", cfg, "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert (
        f"{cfg}:6:20: error: !loguniform [0, 1]: a log-uniform range needs a lower bound above 0"
        in proc.stderr
    )
    assert "fix:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_unresolved_node_is_not_a_search_tag() -> None:
    assert find_dimensions(TagNode("grid", [1, 2], "sequence", None)) == []  # type: ignore[arg-type]
