from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from memlens.web.fastsend import encode_text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_frames_match_the_websockets_library(size: int) -> None:
    text = "x" * size
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert encode_text_frame(text) == expected
