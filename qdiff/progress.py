"""Progress reporting for long loops (SCF, training, optimisation).

Library functions accept a ``callback(info: dict)`` argument; :class:`ProgressBar`
is such a callback that draws a tqdm bar on stderr (tqdm is imported lazily)
with the numbers of ``info`` as postfix.  The CLI passes one; library users may
pass their own callable, or none.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable


class ProgressBar:
    """A callback drawing a progress bar on stderr.

    Args:
      total: number of expected calls (``None`` for unknown).
      desc: label in front of the bar.
      keys: which entries of ``info`` to show; all scalar entries when ``None``.
      disable: draw nothing (the callback still counts calls).
    """

    def __init__(self, total: int | None, desc: str = "", keys: Iterable[str] | None = None,
                 disable: bool = False):
        from tqdm.auto import tqdm

        self.keys = tuple(keys) if keys is not None else None
        self._bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=disable, leave=False,
                         dynamic_ncols=True)

    def __call__(self, info: dict[str, Any]) -> None:
        shown = {}
        for k, v in info.items():
            if self.keys is not None and k not in self.keys:
                continue
            try:
                shown[k] = f"{float(v):.10g}"
            except (TypeError, ValueError):
                continue
        self._bar.set_postfix(shown, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def compose(*callbacks: Callable[[dict], Any] | None) -> Callable[[dict], None]:
    """Return one callback calling each non-None callback in turn."""
    active = [c for c in callbacks if c is not None]

    def call(info: dict) -> None:
        for c in active:
            c(info)

    return call
