"""The group registry: names -> groups.

Entries are registered either as ready :class:`~groups.base.Group` objects or as zero-argument
factories (built on first use and then kept), and families may add *patterns*, e.g. ``C<N>``,
that build a group for any matching name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from groups.base import Group

GroupFactory = Callable[[], Group]

_entries: dict[str, Group | GroupFactory] = {}
_patterns: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Group], str]] = []


def register_group(name: str, group: Group | GroupFactory | None = None, *, overwrite: bool = False):
    """Register ``group`` (a Group or a zero-argument factory) under ``name``.

    Usable as a call, ``register_group("MyGroup", MatrixGroup(...))``, or as a decorator on a
    factory::

        @register_group("MyGroup")
        def my_group():
            return MatrixGroup(...)

    Re-registering an existing name raises unless ``overwrite=True``.
    """
    if group is None:
        def decorator(factory: GroupFactory) -> GroupFactory:
            register_group(name, factory, overwrite=overwrite)
            return factory
        return decorator
    if not isinstance(name, str) or not name:
        raise ValueError(f"a group name must be a non-empty string, got {name!r}")
    if name in _entries and not overwrite:
        raise ValueError(f"a group named {name!r} is already registered (pass overwrite=True to replace it)")
    if not isinstance(group, Group) and not callable(group):
        raise TypeError(f"register_group needs a Group or a factory, got {type(group).__name__}")
    _entries[name] = group
    return group


def register_pattern(regex: str, build: Callable[[re.Match[str]], Group], example: str) -> None:
    """Register a family of names: any name fully matching ``regex`` is built by ``build(match)``
    and then cached under that name. ``example`` is shown in error messages and listings."""
    _patterns.append((re.compile(regex), build, example))


def get_group(name: str) -> Group:
    """The group registered under ``name`` (e.g. ``"O(3)"``, ``"C8"``); raises ``KeyError`` listing
    the known names when there is none."""
    entry = _entries.get(name)
    if entry is None:
        for regex, build, _ in _patterns:
            match = regex.fullmatch(name)
            if match:
                entry = build(match)
                break
        else:
            raise KeyError(
                f"unknown group {name!r}; known groups: {', '.join(list_groups())}"
            )
    if not isinstance(entry, Group):
        entry = entry()
        if not isinstance(entry, Group):
            raise TypeError(f"the factory registered for {name!r} returned {type(entry).__name__}, not a Group")
    _entries[name] = entry
    return entry


def registered_name(group: Group) -> str | None:
    """A name under which :func:`get_group` hands out ``group`` or a group equal to it (same
    definition): ``group.name`` when that resolves to it (building a lazy entry or a pattern if
    needed), else the first already built entry equal to it; ``None`` when the registry does not
    know the group."""
    try:
        if get_group(group.name) == group:
            return group.name
    except KeyError:
        pass
    return next((name for name, entry in _entries.items() if isinstance(entry, Group) and entry == group), None)


def list_groups() -> list[str]:
    """Registered names, followed by the patterns (shown by their examples, e.g. ``C<N>``)."""
    return list(_entries) + [example for _, _, example in _patterns]
