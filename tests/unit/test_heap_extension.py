"""The heap sampler's C extension is built wherever it can be."""

from __future__ import annotations

import shutil

import pytest


def test_the_extension_is_built_where_there_is_a_compiler() -> None:
    # `pip install .` builds it whenever a C compiler is there: a failed build must not
    # pass unseen as the tracemalloc fallback (whose tests run either way).
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: memlens runs on the tracemalloc fallback")
    from memlens.agent import _heapsampler

    assert _heapsampler.MAX_FRAMES == 128
