"""``batched()``: split work into the chunks a cloud API accepts per call."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """Successive tuples of at most ``size`` items (``itertools.batched`` is 3.12+)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk
