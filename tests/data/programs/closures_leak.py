"""Callbacks registered per event and never removed: each closure keeps its event's
payload (40 KB) alive through the list. ~2 events a second: about 5 MB/min."""

import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 480.0
handlers = []


def on_event(payload: bytearray):
    def handler() -> int:
        return len(payload)

    return handler


start = time.monotonic()
while time.monotonic() - start < SECONDS:
    handlers.append(on_event(bytearray(b"x" * 40_000)))
    time.sleep(0.5)
