"""Queries of the hot paths, built and compiled by the ORM once per thread, then run with new values.

Django builds and compiles a query every time it runs it, and on the paths every request takes that
costs several times the query itself: an API token's lookup (with its holder, clinic and membership)
took 1.1 ms to build and compile and 0.1 ms to run on SQLite (bench/README.md). A DICOMweb request
or a C-STORE asks the same few queries each time, with other values; those are built once, with a
placeholder where each value goes, and their SQL runs again with the values of the call, through the
connection's cursor (so query logging, metrics and, on PostgreSQL, prepared statements still apply).

Written by hand: Django keeps no compiled SQL between querysets, and the libraries that cache queries
cache their results, which would break the rule that a change applies to the next request.

What a query may be, checked when it is compiled: a values_list() whose every placeholder reaches the
SQL as a parameter, that is a string compared to a text column, an integer to a key or an integer
column, or an aware datetime to a datetime column (adapted for the database as the ORM adapts it:
SQLite stores text). A query of a clinic's rows
(a TenantOwned model) names the clinic by a placeholder, its first, and runs only inside that
clinic's scope, as django-scopes' managers demand of the ORM's queries; on PostgreSQL, row-level
security filters it as it filters every statement (portal/tenancy.py).
"""

import datetime
import functools
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models import QuerySet, signals
from django.db.models.base import ModelState
from django_scopes import ScopeError, get_scope, scopes_disabled

# Placeholder values no real value is equal to: strings for text columns, integers for keys, and
# instants of a day long gone for datetime columns.
_TEXT_MARK = "\x00palisade-placeholder-{}\x00"
_INTEGER_BASE = -7_300_000_000_000
_DATETIME_MARK = datetime.datetime(1901, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)


class Placeholder:
    """Where a value of the call goes in a query: `text` for a text column, `integer` for a key,
    `datetime` for a datetime column."""

    def __init__(self, kind: str) -> None:
        if kind not in ("text", "integer", "datetime"):
            raise ValueError(f"A placeholder is 'text', 'integer' or 'datetime', not {kind!r}.")
        self.kind = kind


TEXT = Placeholder("text")
INTEGER = Placeholder("integer")
DATETIME = Placeholder("datetime")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # For each parameter of the SQL: the index of the call's value that goes there, or None for a
    # constant of the query (kept as the ORM prepared it).
    slots: tuple[int | None, ...]
    constants: tuple[Any, ...]
    compiler: Any
    converters: dict
    # For each placeholder: what turns the call's value into the parameter (identity but for dates).
    adapters: tuple[Callable[[Any], Any], ...]

    def parameters(self, values: Sequence[Any]) -> list[Any]:
        adapted = [adapt(value) for adapt, value in zip(self.adapters, values, strict=True)]
        return [
            constant if slot is None else adapted[slot]
            for slot, constant in zip(self.slots, self.constants, strict=True)
        ]


class CompiledQuery:
    """A values_list() query compiled once per thread and database, run with new values each call.

    `build` takes one stand-in value per placeholder and returns the queryset; `tenant_owned` says
    that its rows belong to clinics and that its first placeholder is the clinic's id."""

    def __init__(
        self,
        build: Callable[..., QuerySet],
        *placeholders: Placeholder,
        tenant_owned: bool = False,
    ) -> None:
        if tenant_owned and (not placeholders or placeholders[0].kind != "integer"):
            raise ValueError("A query of a clinic's rows takes the clinic's id as its first placeholder.")
        self._build = build
        self._placeholders = placeholders
        self._tenant_owned = tenant_owned
        self._local = threading.local()

    def rows(self, *values: Any, using: str = "default") -> list[tuple]:
        """The rows for these values, one per placeholder, as values_list() gives them."""
        if len(values) != len(self._placeholders):
            raise TypeError(f"{len(self._placeholders)} values expected, {len(values)} given.")
        if self._tenant_owned:
            _check_scope(values[0])
        compiled = self._compiled(using)
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, compiled.parameters(values))
            fetched = cursor.fetchall()
        if not compiled.converters:
            return [tuple(row) for row in fetched]
        return [tuple(row) for row in compiled.compiler.apply_converters(fetched, compiled.converters)]

    def _compiled(self, using: str) -> _Compiled:
        # Per thread: a compiler belongs to the connection of the thread that made it.
        cache = self._local.__dict__.setdefault("compiled", {})
        if using not in cache:
            cache[using] = self._compile(using)
        return cache[using]

    def _compile(self, using: str) -> _Compiled:
        adapters = tuple(_adapter(placeholder, using) for placeholder in self._placeholders)
        marks = [_mark(index, placeholder) for index, placeholder in enumerate(self._placeholders)]
        # The clinic is a placeholder, not the scope's clinic that a scoped manager would add as a
        # constant; rows() checks the scope instead.
        with scopes_disabled():
            queryset = self._build(*marks)
        if queryset._iterable_class is not models.query.ValuesListIterable:
            raise TypeError("A compiled query is a values_list() without flat or named.")
        compiler = queryset.query.get_compiler(using)
        sql, params = compiler.as_sql()
        adapted_marks = [adapt(mark) for adapt, mark in zip(adapters, marks, strict=True)]
        slots = tuple(_slot(param, adapted_marks) for param in params)
        missing = set(range(len(marks))) - set(slots)
        if missing:
            raise ValueError(
                f"Placeholders {sorted(missing)} do not reach the SQL unchanged: only strings compared "
                "to text columns, integers to integer columns and datetimes to datetime columns may be "
                "placeholders."
            )
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        return _Compiled(
            sql=sql,
            slots=slots,
            constants=tuple(p if slot is None else None for slot, p in zip(slots, params, strict=True)),
            compiler=compiler,
            converters=compiler.get_converters(fields),
            adapters=adapters,
        )


def _mark(index: int, placeholder: Placeholder) -> Any:
    if placeholder.kind == "text":
        return _TEXT_MARK.format(index)
    if placeholder.kind == "integer":
        return _INTEGER_BASE - index
    return _DATETIME_MARK + datetime.timedelta(microseconds=index)


def _adapter(placeholder: Placeholder, using: str) -> Callable[[Any], Any]:
    if placeholder.kind != "datetime":
        return _as_is
    ops = connections[using].ops

    def adapt(value: datetime.datetime) -> Any:
        if value.tzinfo is None:
            raise ValueError("A datetime placeholder takes an aware datetime.")
        return ops.adapt_datetimefield_value(value)

    return adapt


def _as_is(value: Any) -> Any:
    return value


def _slot(param: Any, marks: list[Any]) -> int | None:
    for index, mark in enumerate(marks):
        # `type(...) is`: True == 1, and an integer column's constant must not pass for a placeholder.
        if type(param) is type(mark) and param == mark:
            return index
    return None


def _check_scope(tenant_id: int) -> None:
    current = get_scope()
    if not current.get("_enabled", True):
        return
    if "tenant" not in current:
        raise ScopeError("A compiled query of a clinic's rows runs inside the clinic's scope.")
    scoped = current["tenant"]
    if getattr(scoped, "pk", scoped) != tenant_id:
        raise ScopeError("A compiled query of a clinic's rows asked for another clinic than its scope.")


def columns(model: type[models.Model], path: str = "", *, exclude: Collection[str] = ()) -> list[str]:
    """The values_list() names of every concrete field of `model` but those named in `exclude`,
    reached through `path` (a relation of the query's model, such as "user"), in the order `instances`
    reads them."""
    prefix = f"{path}__" if path else ""
    return [prefix + attname for attname in _attnames(model, exclude)]


def _attnames(model: type[models.Model], exclude: Collection[str]) -> list[str]:
    return list(_attnames_of(model, frozenset(exclude)))


@functools.cache
def _attnames_of(model: type[models.Model], exclude: frozenset[str]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields if field.attname not in exclude)


def instances(
    row: Sequence[Any],
    *models_: type[models.Model] | tuple[type[models.Model], Collection[str]],
    using: str = "default",
) -> list[Any]:
    """The model instances of a row of columns(models_[0]) + columns(models_[1], ...) + ...; None for
    a model whose columns are all empty (a left join that found no row). A model given as
    (model, exclude) was read with columns(..., exclude=exclude): those fields are deferred, and
    reading one later queries the database."""
    found = []
    offset = 0
    for spec in models_:
        model, exclude = spec if isinstance(spec, tuple) else (spec, ())
        attnames = _attnames(model, exclude)
        values = row[offset : offset + len(attnames)]
        offset += len(attnames)
        if all(value is None for value in values):
            found.append(None)
        else:
            found.append(_from_db(model, using, attnames, values))
    if offset != len(row):
        raise ValueError(f"A row of {len(row)} columns read as {offset}.")
    return found


def _from_db(model: type[models.Model], using: str, attnames: list[str], values: Sequence[Any]) -> Any:
    """What Model.from_db makes, without Model.__init__: a study's retrieval makes hundreds of objects,
    and __init__ sets each field through its descriptor (a foreign key's checks its cache), which cost
    more than the query. Only the fields read are set; the others are deferred, as from_db leaves them.
    A model whose creation someone listens to (pre_init, post_init) is made by from_db itself."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return model.from_db(using, attnames, list(values))
    made = model.__new__(model)
    made.__dict__.update(zip(attnames, values, strict=True))
    made._state = ModelState()
    made._state.adding = False
    made._state.db = using
    return made
