"""A service's warm-up, then steady state: imports, a pool of buffers, and a lookup table
that fills fast at first and ever slower (each new key is rarer, like a JIT's or a
template cache), then requests that allocate and free as they go."""

import decimal
import email.parser
import json
import random
import sys
import time
import xml.dom.minidom

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 480.0
LOADED = (decimal, email.parser, json, xml.dom.minidom)  # a service imports its world
rng = random.Random(1)
pool = [bytearray(1 << 20) for _ in range(40)]  # a pool made at start
table: dict[int, bytes] = {}
start = time.monotonic()
while time.monotonic() - start < SECONDS:
    # keys drawn from a fixed range: new ones get rarer as the table fills
    for _ in range(5):
        key = rng.randrange(1200)
        if key not in table:
            table[key] = bytes(64 * 1024)
    work = [bytearray(50_000) for _ in range(10)]  # a request's garbage
    del work
    time.sleep(0.5)
