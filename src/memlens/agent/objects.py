"""Object counts by type: a walk over every object the collector tracks, so on demand only.

`gc.get_objects()` lists container objects only (instances, lists, dicts, ...); atoms such
as ints and strs that hold no references are not tracked by the collector and not counted.
"""

from __future__ import annotations

import gc
from collections import Counter

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

_TYPE_MODULE = type.__dict__["__module__"]
_TYPE_QUALNAME = type.__dict__["__qualname__"]


def count_objects(limit: int) -> dict[str, Any]:
    """The `limit` most numerous types among the objects the collector tracks."""
    objects = gc.get_objects()
    try:
        total = len(objects)
        # Counting type objects first keeps the per-object work in C; names come after,
        # for the few types that are shown.
        counts = Counter(map(type, objects))
    finally:
        del objects
    top = counts.most_common(limit)
    return {
        "total": total,
        "distinct_types": len(counts),
        "types": [{"type": type_name(t), "count": n} for t, n in top],
    }


def type_name(t: type) -> str:
    """`module.QualName`, read through `type`'s own descriptors so that a metaclass that
    redefines `__module__` or `__qualname__` cannot run code here."""
    try:
        module = _TYPE_MODULE.__get__(t)
        qualname = _TYPE_QUALNAME.__get__(t)
    except Exception:
        return "<unnamed type>"
    if not isinstance(qualname, str):
        return "<unnamed type>"
    if not isinstance(module, str) or module == "builtins":
        return qualname
    return f"{module}.{qualname}"
