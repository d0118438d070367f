"""Plain integer counters for a stream's statistics (cheap to bump on the hot path)."""

from __future__ import annotations


class CounterSet:
    """Subclasses name their counters in ``__slots__``; each starts at 0. Slots, not a dict:
    ``stats.frames += 1`` per frame must stay a plain attribute store."""

    __slots__ = ()

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
