"""An unbounded functools.lru_cache keyed by request: every request id is new, so every
result stays. ~2 requests a second, 24 KB each: about 3 MB/min, for `SECONDS`."""

import functools
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 480.0


@functools.lru_cache(maxsize=None)  # noqa: UP033 - the unbounded cache is the point
def render(request_id: int) -> bytes:
    return (f"<page {request_id}>" * 2000).encode()[:24_000]


start = time.monotonic()
i = 0
while time.monotonic() - start < SECONDS:
    render(i)
    i += 1
    time.sleep(0.5)
