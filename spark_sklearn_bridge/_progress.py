"""Progress bars for long calls: shown on an interactive terminal, silent in CI and pipes."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

__all__ = ["progress_bar", "progress_enabled"]


def progress_enabled(progress: bool | None = None) -> bool:
    """Resolve a ``progress`` argument: ``None`` means "on a TTY and not in CI"."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI") or os.environ.get("SPARK_SKLEARN_BRIDGE_NO_PROGRESS"):
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def progress_bar(total: int | None, desc: str, progress: bool | None = None, unit: str = "it"):
    """A tqdm bar, disabled (a silent no-op) unless :func:`progress_enabled`.

    Examples
    --------
    >>> with progress_bar(3, "groups", progress=False) as bar:
    ...     bar.update(3)
    >>> bar.disable
    True
    """
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_enabled(progress),
        leave=False,
        dynamic_ncols=True,
    )
