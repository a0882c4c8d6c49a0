"""The statements of a transaction written once for both SQL backends (see storage/sql.py)."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Statement:
    """One statement of a transaction and what its generator is sent back: "one" (the first row
    or None), "rows" (every row), "count" (rows changed) or "many" (`params` are the rows to run
    it with, a list or a generator; nothing)."""

    result: str
    sql: str
    params: Sequence[Any] | Mapping[str, Any] | Iterable[Sequence[Any]] = ()


def one(sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Statement:
    return Statement("one", sql, params)


def rows(sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Statement:
    return Statement("rows", sql, params)


def run(sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Statement:
    return Statement("count", sql, params)


def run_many(sql: str, params: Iterable[Sequence[Any]]) -> Statement:
    """`params` may be a generator, read once as the statement runs (an import streams a file
    through it); an error it raises rolls the transaction back."""
    return Statement("many", sql, params)


# A transaction's body: yields statements, is sent their results, returns its own.
Work = Generator[Statement, Any, T]
