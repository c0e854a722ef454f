"""flowcheck.fields_dataclass: the shared __eq__, __repr__ and __hash__ behave as the ones
dataclasses generates, class for class (each shape below made by both decorators)."""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import re
from dataclasses import field
from typing import Any

import pytest

import flowcheck
from flowcheck.fields_dataclass import fields_dataclass

NAN = math.nan


def _shapes(decorate: Any) -> dict[str, type]:
    """The same classes, made by `decorate` (dataclasses.dataclass or fields_dataclass)."""

    @decorate(slots=True)
    class Plain:
        a: int
        b: str = "x"
        c: list[int] = field(default_factory=list)

    @decorate(frozen=True, slots=True)
    class Frozen:
        a: int
        b: float = 0.0

    @decorate
    class NoSlots:
        a: int
        hidden: int = field(default=0, compare=False, repr=False)
        unhashed: int = field(default=0, hash=False)

    @decorate(frozen=True)
    class FrozenFields:
        a: int
        skipped: int = field(default=0, compare=False)
        unhashed: int = field(default=0, hash=False)
        hashed_only: int = field(default=0, compare=False, hash=True)

    @decorate(frozen=True, slots=True)
    class Empty:
        pass

    @decorate(frozen=True, slots=True)
    class One:
        a: Any

    @decorate(slots=True)
    class OwnMethods:
        a: int

        def __eq__(self, other: object) -> bool:
            return True

        def __repr__(self) -> str:
            return "own"

    @decorate(frozen=True)
    class OwnHash:
        a: int

        def __hash__(self) -> int:
            return 7

    @decorate(slots=True, eq=False)
    class NoEq:
        a: int

    @decorate(slots=True, repr=False)
    class NoRepr:
        a: int

    return {cls.__name__: cls for cls in (Plain, Frozen, NoSlots, FrozenFields, Empty, One,
                                         OwnMethods, OwnHash, NoEq, NoRepr)}


STDLIB = _shapes(dataclasses.dataclass)
SHARED = _shapes(fields_dataclass)

# Per shape, argument tuples for pairs of instances: equal ones, unequal ones, and ones
# equal only in the fields compared or hashed.
ARGS: dict[str, list[tuple[Any, ...]]] = {
    "Plain": [(1,), (1, "x"), (1, "y"), (2, "x", [1]), (1, "x", [1])],
    "Frozen": [(1,), (1, 0.0), (1, NAN), (2, -0.0), (1, -0.0)],
    "NoSlots": [(1,), (1, 5), (1, 0, 3), (2,)],
    "FrozenFields": [(1,), (1, 9), (1, 0, 4), (1, 0, 0, 8), (3, 3, 3, 3)],
    "Empty": [()],
    "One": [(1,), (1.0,), ("1",), (NAN,), ((1, 2),)],
    "OwnMethods": [(1,), (2,)],
    "OwnHash": [(1,), (2,)],
    "NoEq": [(1,), (1,)],
    "NoRepr": [(1,), (2,)],
}


def _shown(obj: object) -> str:
    """repr without the test's local scope and object addresses (repr=False)."""
    return re.sub(r"0x[0-9a-f]+", "0x", repr(obj).replace("_shapes.<locals>.", ""))


def _hashed(obj: object) -> Any:
    """hash(obj), "identity" for object's own, or the TypeError of an unhashable."""
    try:
        value = hash(obj)
    except TypeError as error:  # the message names the class: the same in both
        return ("TypeError", str(error))
    return "identity" if value == object.__hash__(obj) else value


@pytest.mark.parametrize("name", sorted(ARGS))
def test_the_shared_methods_answer_as_the_generated_ones(name: str) -> None:
    std, shared = STDLIB[name], SHARED[name]
    std_objects = [std(*args) for args in ARGS[name]]
    shared_objects = [shared(*args) for args in ARGS[name]]
    for i, (s, f) in enumerate(zip(std_objects, shared_objects, strict=True)):
        assert _shown(f) == _shown(s), name
        assert _hashed(f) == _hashed(s), name
        for j in range(len(ARGS[name])):
            assert (f == shared_objects[j]) == (s == std_objects[j]), (name, i, j)
            assert (f != shared_objects[j]) == (s != std_objects[j]), (name, i, j)
            # Another class's object with the same fields: equal only by its own __eq__.
            assert (f == std_objects[j]) == (name == "OwnMethods"), (name, i, j)
    # The same value object compared with itself (nan): equal by identity in both tuples.
    assert (shared_objects[0] == shared_objects[0]) == (std_objects[0] == std_objects[0])


def test_a_record_inside_itself_shows_as_dots() -> None:
    std, shared = STDLIB["Plain"](1), SHARED["Plain"](1)
    std.b, shared.b = std, shared  # type: ignore[assignment]
    assert repr(shared) == "_shapes.<locals>.Plain(a=1, b=..., c=[])"  # the qualified name
    assert _shown(shared) == _shown(std)


def test_frozen_and_slots_stay_dataclasses_own() -> None:
    frozen = SHARED["Frozen"](1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.a = 2  # type: ignore[misc]
    assert not hasattr(SHARED["Plain"](1), "__dict__")
    assert dataclasses.replace(frozen, b=2.0) == SHARED["Frozen"](1, 2.0)
    assert dataclasses.astuple(SHARED["FrozenFields"](1, 2, 3, 4)) == (1, 2, 3, 4)
    assert SHARED["Plain"].__match_args__ == ("a", "b", "c")


def _generated(method: Any) -> bool:
    code = getattr(method, "__code__", None)
    return code is not None and code.co_filename == "<string>"


def test_no_flowcheck_class_compiles_its_own_eq_or_repr() -> None:
    """Every dataclass of flowcheck is made by fields_dataclass (a plain @dataclass
    compiles its __eq__ and __repr__ again on every start: the start-up this saved)."""
    seen = 0
    for module in pkgutil.walk_packages(flowcheck.__path__, "flowcheck."):
        if module.name.endswith(".__main__"):
            continue  # runs its command when imported
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value)
                    and value.__module__ == module.name):
                seen += 1
                assert not _generated(value.__eq__), value
                assert not _generated(getattr(value.__repr__, "__wrapped__", value.__repr__))
    assert seen > 100
