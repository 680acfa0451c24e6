"""Renamed keyword arguments that keep working for a while.

:func:`renamed_keywords` decorates a constructor (or any function taking keyword arguments) with a
map ``old name -> new name``: a call with an old name emits a :class:`DeprecationWarning` naming
both and is passed on with the new name; a call with both names is a :class:`TypeError`. The
warning is attributed to the first caller outside this distribution's packages, so that it points
at the user's line (and Python's default filters show it when that line is in ``__main__``).
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

# the top-level packages of this distribution (setup.cfg); their frames are skipped when the
# warning looks for the caller to blame
LIBRARY_PACKAGES = ("groups", "implicit_kernels")

Function = TypeVar("Function", bound=Callable)


def renamed_keywords(**renames: str) -> Callable[[Function], Function]:
    """Decorator: accept each keyword ``old`` of ``renames`` as a deprecated spelling of
    ``renames[old]``.

    Example: ``@renamed_keywords(width="copies")`` on ``__init__`` turns ``Net(width=4)`` into
    ``Net(copies=4)`` with a ``DeprecationWarning``; ``Net(width=4, copies=4)`` raises ``TypeError``.
    """

    def decorate(function: Function) -> Function:
        owner = function.__qualname__.removesuffix(".__init__")

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{owner} got both {old!r} (the deprecated name) and {new!r}; pass only {new!r}")
                warnings.warn(f"{owner}: the keyword {old!r} is deprecated, use {new!r}", DeprecationWarning,
                              stacklevel=_outside_library_stacklevel())
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _outside_library_stacklevel() -> int:
    """The ``stacklevel`` that makes :func:`warnings.warn`, called by the function calling this
    one, blame the nearest frame outside :data:`LIBRARY_PACKAGES` (the outermost frame if all are
    inside)."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] in LIBRARY_PACKAGES:
        frame = frame.f_back
        level += 1
    return level
