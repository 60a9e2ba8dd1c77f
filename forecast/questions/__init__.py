"""Questions asked of a fit: emergence, backtests, law comparison, and the baseline.

Emergence is when a k-step task crosses its threshold; a backtest forecasts runs kept out; the
point-fit baseline is what backtests score the model against. Importing this package imports
none of its modules.
"""
