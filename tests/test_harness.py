"""The torch harness: model arithmetic, tasks, one real training grid, the command."""

from __future__ import annotations

import builtins
import csv
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("joblib")

from click.testing import CliRunner  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from forecast.harness import tasks  # noqa: E402
from forecast.harness.command import harness  # noqa: E402
from forecast.harness.grid import preset_specs, run_grid, write_runs_csv  # noqa: E402
from forecast.harness.model import GPT, GPTConfig, param_count, train_flops_per_token  # noqa: E402
from forecast.harness.train import COLUMNS, RunSpec, train_run  # noqa: E402

pytestmark = pytest.mark.harness
SHAPES = [GPTConfig(12, 25, 1, 1, 8), GPTConfig(12, 25, 2, 4, 64), GPTConfig(60, 3, 3, 2, 32)]


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("cfg", SHAPES)
def test_param_count_matches_the_module(cfg):
    model = GPT(cfg)
    assert param_count(cfg) == sum(p.numel() for p in model.parameters())
    tables = model.wte.weight.numel() + model.wpe.weight.numel()
    assert param_count(cfg, embeddings=False) == param_count(cfg) - tables


@pytest.mark.parametrize("cfg", SHAPES)
def test_flop_formula_matches_flop_counter(cfg):
    torch.manual_seed(0)
    model = GPT(cfg)
    batch, n_ctx = 3, cfg.block_size
    idx = torch.randint(cfg.vocab_size, (batch, n_ctx))
    with FlopCounterMode(display=False) as counter:
        model(idx).logsumexp(-1).sum().backward()
    # The formula counts matmuls only, as FlopCounterMode does: they agree exactly.
    assert counter.get_total_flops() == train_flops_per_token(cfg, n_ctx) * batch * n_ctx


def _numbers(digits):
    return (digits * 10 ** np.arange(digits.shape[1])).sum(axis=1)


@pytest.mark.parametrize("task", ["addition", "digitwise"])
@pytest.mark.parametrize("mixed", [False, True])
def test_digit_problems_have_right_answers(task, mixed):
    seqs = tasks.digit_problems(np.random.default_rng(1), 500, task=task, mixed=mixed)
    w = tasks.WIDTH
    assert seqs.shape == (500, tasks.DIGIT_SEQ_LEN)
    assert (seqs[:, w] == tasks.PLUS).all() and (seqs[:, 2 * w + 1] == tasks.EQUALS).all()
    da, db, dc = seqs[:, :w], seqs[:, w + 1:2 * w + 1], seqs[:, -w:]
    if task == "addition":
        np.testing.assert_array_equal(_numbers(dc), (_numbers(da) + _numbers(db)) % 10**w)
    else:
        np.testing.assert_array_equal(dc, (da + db) % 10)
    top = da[:, -1] + db[:, -1]
    assert (top == 0).mean() > 0.5 if mixed else (top == 0).mean() < 0.1
    again = tasks.digit_problems(np.random.default_rng(1), 500, task=task, mixed=mixed)
    np.testing.assert_array_equal(seqs, again)


def test_lookup_problems_follow_the_table_and_its_zipf_law():
    table = tasks.lookup_table(5)
    values, probs = table
    n_keys = tasks.LOOKUP_KEYS
    assert values.shape == probs.shape == (n_keys**2,) and set(values) == set(range(10))
    np.testing.assert_allclose(probs.sum(), 1.0)
    ranked = np.sort(probs)[::-1]  # the Zipf weights r**-LOOKUP_ZIPF, normalised
    np.testing.assert_allclose(ranked[0] / ranked[9], 10.0**tasks.LOOKUP_ZIPF)
    seqs = tasks.lookup_problems(np.random.default_rng(2), 20_000, table)
    assert seqs.shape == (20_000, tasks.LOOKUP_SEQ_LEN) and seqs.max() < tasks.LOOKUP_VOCAB
    pairs = seqs[:, 0::3] * n_keys + seqs[:, 1::3]
    np.testing.assert_array_equal(seqs[:, 2::3], n_keys + values[pairs])
    counts = np.bincount(pairs.ravel(), minlength=n_keys**2) / pairs.size
    top = np.argsort(probs)[::-1][:20]
    np.testing.assert_allclose(counts[top], probs[top], rtol=0.1)
    np.testing.assert_array_equal(seqs, tasks.lookup_problems(np.random.default_rng(2), 20_000,
                                                              table))
    assert (tasks.lookup_table(6)[0] != values).mean() > 0.8  # another seed, another table


@pytest.mark.parametrize("task", ["addition", "lookup", "modular"])
def test_answer_positions_point_at_the_answers(task):
    from forecast.harness.train import answer_positions

    positions = answer_positions(task).numpy()
    if task == "addition":
        seqs = tasks.digit_problems(np.random.default_rng(0), 50)
        assert (seqs[:, positions[0] - 1] == tasks.EQUALS).all()  # c0 .. c7 follow '='
        np.testing.assert_array_equal(positions, np.arange(18, 26))
    elif task == "lookup":
        values, _ = table = tasks.lookup_table(0)
        seqs = tasks.lookup_problems(np.random.default_rng(0), 50, table)
        keys = seqs[:, positions - 2] * tasks.LOOKUP_KEYS + seqs[:, positions - 1]
        np.testing.assert_array_equal(seqs[:, positions], tasks.LOOKUP_KEYS + values[keys])
    else:
        train, _ = tasks.modular_split(7, 0.5, seed=0)
        assert (train[:, positions - 1] == 7).all()  # the answer follows '='
    assert len(positions) == (1 if task == "modular" else tasks.WIDTH)


def test_modular_split_partitions_all_pairs():
    train, test = tasks.modular_split(11, 0.3, seed=4)
    assert len(train) == round(0.3 * 121) and len(train) + len(test) == 121
    pairs = {tuple(r[:2]) for r in np.vstack([train, test])}
    assert len(pairs) == 121
    both = np.vstack([train, test])
    assert ((both[:, 0] + both[:, 1]) % 11 == both[:, 3]).all() and (both[:, 2] == 11).all()


def test_checkpoints_are_log_spaced_and_end_at_the_last_step():
    steps = RunSpec("addition", 16, steps=1000, n_checkpoints=7, first_step=10).checkpoints()
    assert steps[0] == 10 and steps[-1] == 1000
    np.testing.assert_allclose(np.diff(np.log10(steps)), 1 / 3, atol=0.02)


def _strip_time(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_training_is_seeded_and_repeatable():
    spec = RunSpec("addition", n_embd=16, steps=12, batch_size=16, n_checkpoints=2,
                   first_step=4, n_eval=64, seed=3)
    first, second = train_run(spec), train_run(spec)
    assert _strip_time(first) == _strip_time(second)
    other = train_run(replace(spec, seed=4))
    assert _strip_time(other) != _strip_time(first)


@pytest.mark.slow
def test_rows_do_not_depend_on_jobs():
    specs = [RunSpec("addition", n_embd=d, steps=8, batch_size=8, n_checkpoints=2, first_step=4,
                     n_eval=32) for d in (8, 16)]
    assert _strip_time(run_grid(specs, jobs=2)) == _strip_time(run_grid(specs, jobs=1))


def test_modular_run_logs_train_and_test_accuracy():
    spec = RunSpec("modular", n_embd=16, n_layer=1, steps=6, batch_size=0, modulus=7,
                   n_checkpoints=2, first_step=3)
    rows = train_run(spec)
    assert [r["step"] for r in rows] == [3, 6]
    for r in rows:
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1
        assert r["loss"] == r["test_loss"] and r["exact_k1"] == r["test_acc"]
        assert r["tokens"] == r["step"] * round(0.4 * 49) * 3


@pytest.mark.slow
def test_smoke_preset_writes_every_column(tmp_path):
    out = tmp_path / "sub" / "runs.csv"
    result = CliRunner().invoke(harness, ["--preset", "smoke", "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote 14 checkpoints of 4 runs (smoke, seed 1)")
    rows = _read(out)
    assert list(rows[0]) == COLUMNS
    assert [p.name for p in out.parent.iterdir()] == ["runs.csv"]  # no temporary file left
    digit_cols = [c for c in COLUMNS if c not in ("train_acc", "test_loss", "test_acc")]
    for row in rows:
        assert all(row[c] != "" for c in digit_cols), row
        assert float(row["flops"]) > 0 and row["seed"] == "1"
        exact = [float(row[f"exact_k{k}"]) for k in range(1, 9)]
        assert exact == sorted(exact, reverse=True)  # a longer chain is never easier
    for run_id in {r["run_id"] for r in rows}:
        run = [r for r in rows if r["run_id"] == run_id]
        assert len({r["params"] for r in run}) == 1
        tokens = [int(r["tokens"]) for r in run]
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    assert {r["task"] for r in rows} == {"addition", "digitwise", "lookup"}


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "runs.csv"
    out.write_text("old\n")

    class Boom:
        def __format__(self, spec):
            raise RuntimeError("boom")

        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_runs_csv([{"run_id": "a"}, {"run_id": Boom()}], out)
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["runs.csv"]
    write_runs_csv([{"run_id": "a", "flops": 1.5e12, "exact_k2": float("nan")}], out)
    (row,) = _read(out)
    assert row["run_id"] == "a" and row["flops"] == "1.5e+12" and row["exact_k2"] == ""


def test_without_torch_the_command_says_how_to_install(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    out = tmp_path / "runs.csv"
    result = CliRunner().invoke(harness, ["--preset", "smoke", "--out", str(out)])
    assert result.exit_code == 2
    assert "pip install 'scaling-forecast[harness]'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_command_module_does_not_import_torch():
    code = "import sys, forecast.harness.command; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_presets_are_known_and_seeded():
    assert len({s.n_embd for s in preset_specs("default")}) >= 4
    assert {s.task for s in preset_specs("lookup")} == {"lookup"}
    assert all(s.seed == 7 for s in preset_specs("grokking", seed=7))
    with pytest.raises(ValueError, match="unknown preset"):
        preset_specs("huge")


def test_jobs_zero_is_bad_usage(tmp_path):
    result = CliRunner().invoke(harness, ["--out", str(tmp_path / "r.csv"), "--jobs", "0"])
    assert result.exit_code == 2 and "--jobs" in result.output


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    from forecast.harness.grid import stderr_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    stderr_progress(1, 4, 5.0)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    stderr_progress(4, 4, 65.0)
    assert capsys.readouterr().err == f"\rharness [{'#' * 24}] 4/4 runs 1m05s\n"


def test_a_diverging_run_is_a_clean_failure(monkeypatch, tmp_path):
    import forecast.harness.grid as grid

    def diverge(*args, **kwargs):
        raise FloatingPointError("addition-L2-d16-s0: the loss became NaN or infinite")

    monkeypatch.setattr(grid, "run_grid", diverge)
    out = tmp_path / "runs.csv"
    result = CliRunner().invoke(harness, ["--preset", "smoke", "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    assert result.output == ("Error: addition-L2-d16-s0: the loss became NaN or infinite; "
                             f"nothing was written to {out}\n")
