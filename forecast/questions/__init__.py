"""Questions asked of a fit: emergence (when a k-step task crosses its threshold), backtests
(forecasts of runs kept out), law comparison, and the point-fit baseline they are scored
against. Importing this package imports none of its modules.
"""
