"""Small frozen value classes without `dataclasses`.

`dataclasses` imports `inspect`, thousands of objects that the host's garbage collector
would walk for the rest of its life; the agent's few value types need only this. A
subclass annotates its fields in order, as a dataclass would, lists them in `__slots__`,
and sets them in its `__init__` through `_set`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    R = TypeVar("R", bound="Record")


class Record:
    """Equality, hash, repr, copy and pickle over the fields; assigning to one raises."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        # The class's own annotations, in order: what `inspect.get_annotations` reads.
        cls._fields = tuple(vars(cls).get("__annotations__", {}))

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def _as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def _replace(self: R, **changes: Any) -> R:
        """A copy with some fields changed, like `dataclasses.replace`."""
        return _make(type(self), {**self._as_dict(), **changes})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make, (type(self), self._as_dict()))


def _make(cls: type[R], fields: dict[str, Any]) -> R:
    record = object.__new__(cls)
    record._set(**fields)
    return record
