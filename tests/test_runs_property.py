"""Property: whatever table is thrown at the runs reader, it returns valid runs or InputError."""

import csv
import io

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from forecast.errors import InputError
from forecast.runs import read_runs

NAMES = st.sampled_from(["flops", "loss", "params", "tokens", "step_loss", "run_id", "x", "",
                         "loss ", "FLOPS", "é"])
CELLS = st.one_of(
    st.floats(min_value=1e15, max_value=1e24).map(lambda v: f"{v:.6g}"),
    st.floats(min_value=0.5, max_value=10).map(lambda v: f"{v:.4f}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=1e-300, max_value=1e300).map(lambda v: f"{v:g}"),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "NaN", "1e400", "abc", "1,5", '"', "0x1F",
                     "  3.0 ", "1e-320", "None", "\t"]),
    st.text(max_size=6),
)
DELIMS = st.sampled_from([",", ";", "\t", "|"])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"])


@st.composite
def tables(draw):
    names = draw(st.one_of(st.just(["flops", "loss"]), st.just(["params", "tokens", "loss"]),
                           st.just(["run_id", "params", "flops", "loss"]),
                           st.lists(NAMES, min_size=0, max_size=5)))
    n_rows = draw(st.integers(0, 12))
    rows = [[draw(CELLS) for _ in range(draw(st.integers(max(len(names) - 1, 0),
                                                            len(names) + 1)))]
            for _ in range(n_rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=draw(DELIMS))
    writer.writerow(names)
    writer.writerows(rows)
    text = buf.getvalue()
    try:
        return text.encode(draw(ENCODINGS))
    except UnicodeEncodeError:
        return text.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), law=st.sampled_from(["power", "pure", "chinchilla", "broken", "logistic"]),
       y=st.sampled_from(["loss", "step_loss"]))
def test_reader_returns_valid_runs_or_input_error(tmp_path_factory, data, law, y):
    path = tmp_path_factory.mktemp("prop") / "runs.csv"
    path.write_bytes(data)
    try:
        runs = read_runs(path, y=y, law=law)
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and message
        assert str(path) in message
        return
    event("valid runs table")
    assert len(runs) >= 4
    assert np.all(np.isfinite(runs.flops)) and np.all(runs.flops > 0)
    assert np.all(np.isfinite(runs.y))
    assert np.unique(runs.flops).size >= 2


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("bytes") / "runs.csv"
    path.write_bytes(blob)
    try:
        read_runs(path)
    except InputError:
        pass
