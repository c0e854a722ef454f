"""`fields_dataclass`: `dataclasses.dataclass` with the same `__eq__`, `__repr__` and
`__hash__`, as functions every class shares instead of code compiled for each class.

Why: Python 3.11's dataclasses compile each generated method from its source text when
the class is made (dataclasses._create_fn, one `exec` per method), and every run of
flowcheck makes its ~130 classes again: compiling their `__eq__` and `__repr__` was 15%
of the instructions of `flowcheck analyze` on a small capture (callgrind, 1,042 -> 893 M)
and 3% of the engine's on a 1 GB one. `__init__` (and a frozen class's `__setattr__` and
`__delattr__`) stay dataclasses' own: each class's is its own code.

The methods behave as dataclasses' (Python documentation, dataclasses, "Module contents":
eq, repr, frozen; field(compare=, repr=, hash=)): `__eq__` compares the tuples of the
compare=True fields when the other object is of the very same class, else returns
NotImplemented; `__repr__` is "QualName(a=1, b='x')" over the repr=True fields, "..." for
an object met again inside its own repr; a frozen class with eq hashes the tuple of its
hash fields (hash=None: compare), a mutable one with eq is unhashable; a method the class
body defines itself stays (as dataclasses leave it). Checked against dataclasses'
generated methods by tests/test_fields_dataclass.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, TypeVar, dataclass_transform, overload

_Class = TypeVar("_Class", bound=type)
_Key = Callable[[Any], tuple[Any, ...]]

# Which fields each method reads (dataclasses' own rules), and per (class, method) the
# names of those fields and a getter of their values as a tuple, made on first use.
_READS: dict[str, Callable[[dataclasses.Field[Any]], bool]] = {
    "eq": lambda f: f.compare,
    "hash": lambda f: f.compare if f.hash is None else bool(f.hash),
    "repr": lambda f: f.repr,
}
_read_by: dict[tuple[type, str], tuple[tuple[str, ...], _Key]] = {}


def _tuple_of(names: tuple[str, ...]) -> _Key:
    """A function giving an object's attributes `names` as a tuple (attrgetter's own
    for two or more: one name gives the bare value, none a TypeError)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _fields_read(cls: type, method: str) -> tuple[tuple[str, ...], _Key]:
    """The names of cls's fields `method` ("eq", "hash", "repr") reads, and a getter of
    their values as a tuple."""
    read = _read_by.get((cls, method))
    if read is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if _READS[method](f))
        read = _read_by[cls, method] = (names, _tuple_of(names))
    return read


def _fields_eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        key = _fields_read(self.__class__, "eq")[1]
        return key(self) == key(other)
    return NotImplemented


def _fields_hash(self: Any) -> int:
    return hash(_fields_read(self.__class__, "hash")[1](self))


@recursive_repr()
def _fields_repr(self: Any) -> str:
    cls = self.__class__
    names, key = _fields_read(cls, "repr")
    values = ", ".join(f"{name}={value!r}" for name, value in zip(names, key(self),
                                                                  strict=True))
    return f"{cls.__qualname__}({values})"


@overload
def fields_dataclass(cls: _Class, /) -> _Class: ...


@overload
def fields_dataclass(*, init: bool = True, repr: bool = True, eq: bool = True,
                     frozen: bool = False, match_args: bool = True, kw_only: bool = False,
                     slots: bool = False) -> Callable[[_Class], _Class]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def fields_dataclass(cls: type | None = None, /, *, init: bool = True, repr: bool = True,
                     eq: bool = True, frozen: bool = False, match_args: bool = True,
                     kw_only: bool = False, slots: bool = False) -> Any:
    """`@dataclasses.dataclass` with these options (order and unsafe_hash are not
    offered: nothing here needs them), its __eq__, __repr__ and __hash__ the shared
    ones of this module. Returns the class (a new one with slots=True, as dataclasses)."""

    def make(cls: type) -> type:
        body = cls.__dict__
        # dataclasses' has_explicit_hash: a body defining __eq__ alone has __hash__ None.
        own_hash = "__hash__" in body and not (body["__hash__"] is None and "__eq__" in body)
        made = dataclasses.dataclass(cls, init=init, repr=False, eq=False, frozen=frozen,
                                     match_args=match_args, kw_only=kw_only, slots=slots)
        if repr and "__repr__" not in body:
            made.__repr__ = _fields_repr
        if eq:
            if "__eq__" not in body:
                made.__eq__ = _fields_eq
            if not own_hash:
                made.__hash__ = _fields_hash if frozen else None  # type: ignore[assignment]
        return made

    return make if cls is None else make(cls)
