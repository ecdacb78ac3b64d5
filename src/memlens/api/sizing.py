"""Deep size: the bytes of an object and of everything it reaches, within a bound.

`sys.getsizeof` gives one object's own bytes; a list's figure leaves out its items. The
deep size walks the references the garbage collector knows (`gc.get_referents`) and adds
each object once (a visited set, so shared and cyclic parts count once). Classes,
modules, functions and code are not followed: every instance reaches its class, and
counting the class (and from there the whole module) in every tracked object would make
the figure meaningless. Objects that hold references the collector is not told about (a
C extension's private buffers) count their own `__sizeof__` only.

The walk visits at most `max_nodes` objects: a tracked object that reaches a huge graph
(a cache holding the world) gives a lower bound after a bounded time, and says so.
"""

from __future__ import annotations

import gc
import sys
import types

_NOT_FOLLOWED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
)

# Common objects that refer to nothing: no need to ask the collector.
_LEAVES = frozenset({int, float, complex, str, bytes, bool, type(None)})


def deep_size(obj: object, max_nodes: int, skip: tuple[object, ...] = ()) -> tuple[int, int, bool]:
    """(bytes, objects visited, whether the walk stopped at `max_nodes`). Objects in
    `skip` are never entered: the tracker itself, which a tracked object may reach."""
    getsizeof = sys.getsizeof
    referents = gc.get_referents
    seen = {id(obj), *map(id, skip)}
    pending = [obj]
    total = nodes = 0
    while pending:
        if nodes >= max_nodes:
            return total, nodes, True
        item = pending.pop()
        nodes += 1
        try:  # noqa: SIM105 - suppress() would add a context manager per object
            total += getsizeof(item, 0)
        except Exception:  # a __sizeof__ of the program's own that fails: count nothing
            pass
        if type(item) in _LEAVES:
            continue
        for ref in referents(item):
            if id(ref) not in seen and not isinstance(ref, _NOT_FOLLOWED):
                seen.add(id(ref))
                pending.append(ref)
    return total, nodes, False
