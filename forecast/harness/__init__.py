"""Ground truth for the forecaster: tiny transformers trained on composed tasks.

Modules, in reading order:

* :mod:`~forecast.harness.model` -- the transformer, its parameter count and training FLOPs;
* :mod:`~forecast.harness.tasks` -- k-digit addition (each answer digit a step), the carry-free
  control and modular addition (grokking);
* :mod:`~forecast.harness.train` -- one run, evaluated at log-spaced checkpoints;
* :mod:`~forecast.harness.grid` -- presets, joblib over grid points, the runs CSV;
* :mod:`~forecast.harness.command` -- the ``forecast harness`` command.

Only ``command`` may be imported without torch; the others need ``pip install
'scaling-forecast[harness]'``.
"""
