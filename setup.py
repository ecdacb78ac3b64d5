"""The C extension, which pyproject.toml cannot describe: memlens's heap sampler.

It is optional: where there is no compiler (or the build fails) memlens installs without
it and the heap profiler falls back to tracemalloc, saying why once.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup

extensions = []
if sys.platform != "win32":
    extensions.append(
        Extension(
            "memlens.agent._heapsampler",
            ["src/memlens/agent/_heapsampler.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            libraries=["m"],
            optional=True,
        )
    )

setup(ext_modules=extensions)
