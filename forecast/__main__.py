"""``python -m forecast``: the same as the ``forecast`` command."""

from forecast.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
