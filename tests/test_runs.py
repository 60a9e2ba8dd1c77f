"""The runs reader: good tables, and every bad input through the CLI (exit 2, no output)."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.errors import InputError
from forecast.runs import read_runs, runs_from_frame

GOOD = "flops,loss\n" + "".join(f"{10 ** (17 + i / 2):g},{2 + 3 * 0.7 ** i:.4f}\n"
                                 for i in range(8))


def write(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_reads_flops_and_loss(tmp_path):
    runs = read_runs(write(tmp_path, GOOD))
    assert len(runs) == 8
    assert runs.flops[0] == pytest.approx(1e17)
    assert runs.y[0] == pytest.approx(5.0)
    assert len(runs.sha256) == 64
    assert runs.warnings == []


def test_compute_from_params_and_tokens(tmp_path):
    text = "params,tokens,loss\n" + "".join(f"{1e7 * 2**i},{1e9 * 3**i},{3 - 0.1 * i}\n"
                                            for i in range(8))
    runs = read_runs(write(tmp_path, text), law="chinchilla")
    np.testing.assert_allclose(runs.flops, 6 * runs.params * runs.tokens)


def test_chinchilla_derives_tokens_from_flops(tmp_path):
    text = "params,flops,loss\n" + "".join(f"{1e7 * 2**i},{1e17 * 5**i},{3 - 0.1 * i}\n"
                                           for i in range(8))
    runs = read_runs(write(tmp_path, text), law="chinchilla")
    np.testing.assert_allclose(runs.tokens, runs.flops / (6 * runs.params))


def test_pf_days_warns(tmp_path):
    text = "flops,loss\n" + "".join(f"{0.01 * 2**i},{3 - 0.1 * i}\n" for i in range(8))
    runs = read_runs(write(tmp_path, text))
    assert any("PF-days" in w for w in runs.warnings)


def test_percentage_like_loss_warns():
    frame = pd.DataFrame({"flops": np.logspace(17, 20, 8), "loss": np.linspace(90, 30, 8)})
    assert any("percentage" in w for w in runs_from_frame(frame).warnings)


def test_accuracy_above_one_is_rejected_for_logistic():
    frame = pd.DataFrame({"flops": np.logspace(17, 20, 8), "acc": np.linspace(5, 95, 8)})
    with pytest.raises(InputError, match="divide percentages by 100"):
        runs_from_frame(frame, y="acc", law="logistic")


def test_subset_keeps_columns_aligned(tmp_path):
    runs = read_runs(write(tmp_path, GOOD))
    low = runs.subset(runs.flops < 1e19)
    assert len(low) == 4 and low.flops.max() < 1e19
    assert list(low.frame["loss"].astype(float)) == list(low.y)


ROWS8 = "".join(f"{10 ** (17 + i)},{3 - 0.1 * i}\n" for i in range(8))

# (case, file content or None for no file, extra CLI args, a fragment the message must contain)
BAD = [
    ("missing", None, [], "file not found"),
    ("empty", "", [], "file is empty"),
    ("whitespace only", "  \n\n", [], "file is empty"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR\x00\x01", [], "looks binary"),
    ("latin-1", "flops,loss\n1e18,2.5\xe9\n".encode("latin-1"), [], "not UTF-8"),
    ("header only", "flops,loss\n", [], "no rows"),
    ("one column", "flops\n1e18\n1e19\n", [], "header has 1 column"),
    ("no compute", "size,loss\n" + ROWS8, [], "no compute columns"),
    ("non-numeric", "flops,loss\n" + ROWS8 + "1e20,abc\n", [], "line 10, column 'loss' is 'abc'"),
    ("empty cell", "flops,loss\n1e18,\n" + ROWS8, [], "line 2, column 'loss' is empty"),
    ("inf", "flops,loss\n" + ROWS8 + "inf,2.0\n", [], "column 'flops' is 'inf'"),
    ("nan", "flops,loss\n" + ROWS8 + "1e21,nan\n", [], "column 'loss' is 'nan'"),
    ("zero compute", "flops,loss\n0,2.0\n" + ROWS8, [], "line 2, column 'flops' is 0"),
    ("negative loss", "flops,loss\n" + ROWS8 + "1e20,-1\n", [], "must be > 0"),
    ("duplicate columns", "flops,loss,loss\n1e18,2,3\n", [], "column 'loss' appears twice"),
    ("too few runs", "flops,loss\n1e18,3\n1e19,2.9\n1e20,2.8\n1e21,2.7\n", [],
     "too few for law 'power'"),
    ("one compute value", "flops,loss\n" + "1e19,2.5\n" * 8, [], "same compute"),
    ("--y names no column", "flops,loss\n" + ROWS8, ["--y", "step_loss"], "no column 'step_loss'"),
    ("law needs params", "flops,loss\n" + ROWS8, ["--law", "chinchilla"],
     "needs columns 'params' and 'tokens'"),
    ("ragged rows", "flops,loss\n1e18,2,5,6\n" + ROWS8, [], "not a valid CSV"),
    ("unknown law", "flops,loss\n" + ROWS8, ["--law", "quadratic"], "'quadratic' is not one of"),
]


@pytest.mark.parametrize("case,content,args,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case, content, args,
                                                            fragment):
    path = tmp_path / "runs.csv"
    if content is not None:
        write(tmp_path, content)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    if case != "unknown law":  # click's own usage error is three lines; ours are one
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ")
        assert str(path) in lines[0] or "law" in lines[0]


def test_folder_instead_of_file(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fit", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 2
    assert "is a folder" in result.output
    assert not out.exists()


def test_out_that_is_a_file(tmp_path):
    path = write(tmp_path, "flops,loss\n" + ROWS8)
    out = write(tmp_path, "not a folder", name="out")
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "--out is a file" in result.output
    assert out.read_text() == "not a folder"


def test_budget_needs_chinchilla(tmp_path):
    path = write(tmp_path, "flops,loss\n" + ROWS8)
    result = CliRunner().invoke(main, ["fit", str(path), "--budget", "1e24",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "--budget needs --law chinchilla" in result.output


def test_frontier_keeps_the_runs_that_beat_every_run_of_no_more_compute():
    import pandas as pd

    from forecast.runs import runs_from_frame

    frame = pd.DataFrame({
        "run_id": list("abcdefg"),
        "flops": [1e18, 2e18, 2e18, 4e18, 8e18, 8e18, 1.6e19],
        "loss": [3.0, 3.1, 2.8, 2.9, 2.5, 2.4, 2.45],
    })
    runs = runs_from_frame(frame)
    front = runs.frontier()
    # b (worse than a), d (worse than c), e (the worse of two at 8e18), g (worse than f) go
    assert front.frame["run_id"].tolist() == ["a", "c", "f"]
    np.testing.assert_allclose(front.flops, [1e18, 2e18, 8e18])
    acc = runs_from_frame(frame.assign(loss=[0.1, 0.3, 0.2, 0.25, 0.5, 0.4, 0.6]),
                          y="loss", law="logistic")
    assert acc.frontier(higher_is_better=True).frame["run_id"].tolist() == ["a", "b", "e", "g"]
