"""What `memlens attach` runs inside a process that never imported memlens.

The attaching side (`memlens.attach.bootstrap`) puts memlens's own install first on
`sys.path` for the time of one import, imports this module, takes the path away again and
calls `run`: what the program imports afterwards resolves as it always did, and the
agent's later imports find their modules through the package's `__path__`.

`run` is the whole of what an attach does in the target: it starts the agent (or finds
the one running) and, when asked, the heap profiler. Like every part of the agent it uses
the standard library only, so a Python other than memlens's own (another virtual
environment, another 3.10+ version) can load it; the heap sampler's C extension then may
not load, and tracemalloc takes its place (docs/heap.md).
"""

from __future__ import annotations

from memlens.agent import lifecycle


def run(heap_interval: int = 0, runtime_dir: str | None = None) -> None:
    """Starts the agent, and the heap profiler when `heap_interval` (bytes) is not 0,
    registered in `runtime_dir` (the attaching viewer's) when given.

    Errors are raised as RuntimeError, never SystemExit or KeyboardInterrupt:
    `PyRun_SimpleString` would end the process on SystemExit."""
    try:
        if runtime_dir is not None and not lifecycle.is_running():
            from memlens.agent import _entry

            _entry.use_runtime_dir(runtime_dir)
        lifecycle.start()
        if heap_interval:
            from memlens.agent import heap

            heap.PROFILER.start(heap_interval)
    except BaseException as exc:
        raise RuntimeError(f"memlens attach: {type(exc).__name__}: {exc}") from None
