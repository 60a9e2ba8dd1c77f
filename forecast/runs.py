"""Reading and validating a runs table (``runs.csv``, DESIGN.md section 2).

Every problem with the input raises :class:`forecast.errors.InputError` with one line that names
the file, the row or column, and what to do. Row numbers are the file's line numbers (the header
is line 1), so that an editor jumps straight to them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from forecast.errors import InputError
from forecast.laws import Law, get_law

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Runs", "read_runs", "runs_from_frame"]

_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Runs:
    """A validated runs table.

    Attributes
    ----------
    source : str
        Where the table came from (a path, or ``"<frame>"``).
    frame : pandas.DataFrame
        The table as read, with a ``flops`` column filled in from ``6 N D`` where needed.
    y_name : str
        The metric column.
    flops, y : numpy.ndarray
        Compute in FLOPs and the metric, one entry per row.
    params, tokens : numpy.ndarray or None
        Model size and training tokens, where the table has them.
    sha256 : str
        SHA-256 of the file's bytes (empty for a data frame).
    warnings : list of str
        Things that look wrong but do not stop the fit.
    """

    source: str
    frame: pd.DataFrame
    y_name: str
    flops: np.ndarray
    y: np.ndarray
    params: np.ndarray | None
    tokens: np.ndarray | None
    sha256: str = ""
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)

    def column(self, name: str, *, what: str = "") -> np.ndarray:
        """Return another column of the table as finite floats.

        Raises
        ------
        InputError
            If the column is missing, or a value in it is empty or not a finite number (the
            message names the line); ``what`` says what the column was wanted for.
        """
        if name not in self.frame.columns:
            raise InputError(f"{self.source}: no column '{name}'{' ' + what if what else ''}; "
                             f"the file has {', '.join(self.frame.columns)}")
        return _numeric(self.source, self.frame[name].tolist(), name, positive=False)

    def labels(self, name: str, *, what: str = "") -> np.ndarray:
        """Return a column of labels (a model family, a run's name) as strings.

        Raises
        ------
        InputError
            If the column is missing or a cell in it is empty (the message names the line).
        """
        if name not in self.frame.columns:
            raise InputError(f"{self.source}: no column '{name}'{' ' + what if what else ''}; "
                             f"the file has {', '.join(self.frame.columns)}")
        cells = self.frame[name].tolist()
        for i, cell in enumerate(cells):
            if cell is None or (isinstance(cell, float) and math.isnan(cell)) or \
                    not str(cell).strip():
                raise InputError(f"{self.source}: line {i + 2}, column '{name}' is empty; "
                                 "every row needs a label there (fill it or delete the row)")
        return np.array([str(c).strip() for c in cells], dtype=object)

    def covariates(self, law: Law) -> dict[str, np.ndarray]:
        """Return the raw covariates a law reads: ``C`` (FLOPs) or ``N`` and ``D``."""
        table = {"C": self.flops, "N": self.params, "D": self.tokens}
        return {k: np.asarray(table[k], dtype=float) for k in law.covariates}

    def subset(self, rows: np.ndarray) -> Runs:
        """Return the runs where a boolean mask is true, or at integer positions, in that order."""
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        pick = None if self.params is None else self.params[rows]
        tok = None if self.tokens is None else self.tokens[rows]
        return Runs(self.source, self.frame.iloc[rows].reset_index(drop=True), self.y_name,
                    self.flops[rows], self.y[rows], pick, tok, self.sha256, list(self.warnings))

    def drop_first(self, run: str, fraction: float) -> Runs:
        """Return the runs without each training run's first ``fraction`` of its compute.

        A table of checkpoints has many rows per training run (named by column ``run``); a
        checkpoint is dropped when its compute is below ``fraction`` times the largest of its
        run (for one model size, compute grows with steps, so this is the run's first
        ``fraction`` of training). Choshen et al. (2024) find that fitting checkpoints helps
        once about the first 10% are dropped: early in training the loss is far from any law.

        Raises
        ------
        InputError
            If ``fraction`` is not in [0, 1) or the column is missing or has an empty cell.
        """
        if not 0.0 <= fraction < 1.0:
            raise InputError(f"--drop-first {fraction:g}: must be a fraction in [0, 1), e.g. "
                             "0.1 (drop each run's first 10%)")
        labels = self.labels(run, what="for --run")
        top = {r: self.flops[labels == r].max() for r in set(labels)}
        return self.subset(self.flops >= fraction * np.array([top[r] for r in labels]))

    def frontier(self, higher_is_better: bool = False) -> Runs:
        """Return the compute frontier: the runs that beat every run of no more compute.

        A run is kept when its metric is the best (lowest loss, or highest accuracy with
        ``higher_is_better``) of all runs at or below its compute. For tables of checkpoints of
        several model sizes this is the envelope of the learning curves that Hoffmann et al.
        (2022) fit in their approach 1: what the best model trainable with that compute reached.
        Runs of equal compute keep only the best of them.
        """
        score = -self.y if higher_is_better else self.y
        keep = np.zeros(len(self), dtype=bool)
        best = np.inf
        for i in np.lexsort((score, self.flops)):  # by compute, the best first among equals
            if score[i] < best:
                keep[i], best = True, score[i]
        return self.subset(keep)


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a CSV file; give the runs CSV inside it")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; check the path") from None
    except PermissionError:
        raise InputError(f"{path}: cannot be read (permission denied); check its mode") from None
    if not data.strip():
        raise InputError(f"{path}: file is empty; it needs a header row and one row per run")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise InputError(f"{path}: looks binary, not a CSV text file; export the runs as CSV")
    return data


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: is not UTF-8 text (byte {exc.start}); save the CSV as UTF-8"
        ) from None


def _check_shape(path: Path, text: str) -> tuple[list[str], list[list[str]]]:
    """Check the header's names and that every line has as many fields.

    Returns the names and the data rows, blank lines left out.
    """
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputError(f"{path}: not a valid CSV ({exc}); check the quoting") from None
    names = [c.strip() for c in rows[0]] if rows else []
    if len(names) < 2:
        raise InputError(
            f"{path}: header has {len(names)} column(s); expected comma-separated columns such "
            "as flops,loss (see docs/csv-format.md)"
        )
    seen: set[str] = set()
    for name in names:
        if not name:
            raise InputError(f"{path}: the header has an empty column name; name every column")
        if name in seen:
            raise InputError(
                f"{path}: column '{name}' appears twice in the header; rename or drop one"
            )
        seen.add(name)
    data = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(names):
            raise InputError(
                f"{path}: not a valid CSV: line {i} has {len(row)} fields but the header has "
                f"{len(names)}; check the separators and quoting on that line"
            )
        data.append(row)
    return names, data


def _to_float(cell) -> float:
    if cell is None:
        return math.nan
    if isinstance(cell, int | float):
        return float(cell)
    text = str(cell).strip()
    try:
        return float(text) if "_" not in text else math.nan
    except ValueError:
        return math.nan


def _numeric(path: str, cells: Sequence, col: str, *, positive: bool) -> np.ndarray:
    """Return a column as floats, naming the first bad row (by file line) if any."""
    values = np.array([_to_float(c) for c in cells], dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        cell = cells[i]
        empty = cell is None or (isinstance(cell, float) and math.isnan(cell)) or \
            str(cell).strip() == ""
        what = "is empty" if empty else f"is {str(cell).strip()!r}"
        raise InputError(
            f"{path}: line {i + 2}, column '{col}' {what}; every value must be a finite "
            "number (fix or delete that row)"
        )
    if positive and (values <= 0).any():
        i = int(np.argmax(values <= 0))
        raise InputError(
            f"{path}: line {i + 2}, column '{col}' is {values[i]:g}; it must be > 0 "
            "(fix or delete that row)"
        )
    return values


def runs_from_frame(frame: pd.DataFrame, *, y: str = "loss", law: Law | str = "power",
                    source: str = "<frame>", sha256: str = "") -> Runs:
    """Validate a data frame of runs for a law and metric.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per run or checkpoint.
    y : str
        The metric column.
    law : forecast.laws.Law or str
        The law to be fitted: it decides the columns needed and the least number of runs.
    source : str
        Name used in error messages.
    sha256 : str
        Hash of the source file, kept with the result.

    Returns
    -------
    Runs
        The validated table.

    Raises
    ------
    InputError
        If the table cannot be fitted with the law; the message names the column or line.
    """
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    checked = _validate({c: frame[c].tolist() for c in frame.columns}, len(frame), y=y, law=law,
                        source=source)
    if "flops" not in frame.columns:
        frame["flops"] = checked[0]
    flops, yv, params, tokens, warnings = checked
    return Runs(source, frame, y, flops, yv, params, tokens, sha256, warnings)


def _validate(columns: Mapping[str, Sequence], n_rows: int, *, y: str, law: Law | str,
              source: str) -> tuple:
    """Check a table given as columns; return flops, y, params, tokens and the warnings."""
    spec = get_law(law)
    names = list(columns)
    if n_rows == 0:
        raise InputError(f"{source}: has a header but no rows; add one row per run")
    if y not in columns:
        raise InputError(
            f"{source}: no column '{y}' for the metric; pass --y with one of: "
            f"{', '.join(names)}"
        )
    has = set(names)
    if "flops" not in has and not {"params", "tokens"} <= has:
        raise InputError(
            f"{source}: no compute columns; add 'flops' (training FLOPs), or 'params' and "
            "'tokens' (then flops = 6 * params * tokens)"
        )
    if "N" in spec.covariates and not ("params" in has and ({"tokens", "flops"} & has)):
        raise InputError(
            f"{source}: law '{spec.name}' needs columns 'params' and 'tokens' (or 'flops'); "
            f"the file has {', '.join(names)}; use --law power for compute only"
        )
    params = _numeric(source, columns["params"], "params", positive=True) if "params" in has \
        else None
    tokens = _numeric(source, columns["tokens"], "tokens", positive=True) if "tokens" in has \
        else None
    if "flops" in has:
        flops = _numeric(source, columns["flops"], "flops", positive=True)
    else:
        flops = 6.0 * params * tokens
    if tokens is None and params is not None and "N" in spec.covariates:
        tokens = flops / (6.0 * params)
    yv = _numeric(source, columns[y], y, positive=spec.metric == "positive")
    if spec.metric == "unit" and ((yv < 0) | (yv > 1)).any():
        i = int(np.argmax((yv < 0) | (yv > 1)))
        raise InputError(
            f"{source}: line {i + 2}, column '{y}' is {yv[i]:g}; law '{spec.name}' fits an "
            "accuracy "
            "in [0, 1] (divide percentages by 100)"
        )
    need = spec.n_params + 2
    if len(yv) < need:
        raise InputError(
            f"{source}: {len(yv)} run(s) is too few for law '{spec.name}' ({spec.n_params} "
            f"parameters); give at least {need} runs or use a simpler law"
        )
    if np.unique(flops).size < 2:
        raise InputError(
            f"{source}: every run has the same compute ({flops[0]:g} FLOPs); a scaling law "
            "needs runs at two or more compute values"
        )
    if "N" in spec.covariates and (np.unique(params).size < 2 or np.unique(tokens).size < 2):
        raise InputError(
            f"{source}: law '{spec.name}' needs runs at two or more values of both params and "
            "tokens"
        )
    warnings = []
    if flops.max() < 1e6:
        warnings.append(
            f"{source}: the largest compute is {flops.max():g}, which looks like PF-days or "
            "another unit rather than FLOPs; convert to FLOPs (1 PF-day = 8.64e19 FLOPs)"
        )
    if spec.metric == "positive" and yv.max() > 20:
        warnings.append(
            f"{source}: column '{y}' reaches {yv.max():g}, which looks like a percentage or "
            "perplexity rather than a loss in nats; check the metric"
        )
    return flops, yv, params, tokens, warnings


def read_runs(path: str | Path, *, y: str = "loss", law: Law | str = "power") -> Runs:
    """Read and validate a runs CSV.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    y : str
        The metric column (default ``loss``).
    law : forecast.laws.Law or str
        The law to be fitted (or its name, see :data:`forecast.laws.LAWS`).

    Returns
    -------
    Runs
        The validated table, with the file's SHA-256.

    Raises
    ------
    InputError
        If the file is missing, unreadable or cannot be fitted; the message says why and what
        to do.
    """
    path = Path(path)
    law = get_law(law)
    data = _read_bytes(path)
    text = _decode(path, data)
    names, rows = _check_shape(path, text)
    columns = {name: [row[j].strip() or None for row in rows] for j, name in enumerate(names)}
    checked = _validate(columns, len(rows), y=y, law=law, source=str(path))
    import pandas as pd  # only for a valid table: errors above return without it

    frame = pd.DataFrame(columns, dtype=object)
    if "flops" not in frame.columns:
        frame["flops"] = checked[0]
    flops, yv, params, tokens, warnings = checked
    return Runs(str(path), frame, y, flops, yv, params, tokens,
                hashlib.sha256(data).hexdigest(), warnings)
