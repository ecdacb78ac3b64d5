"""A bounded LRU cache (an OrderedDict with a maximum of 600 entries of 64 KB): it fills
over the first five minutes at about 7.5 MB/min, then evicts one entry per new one, and
memory holds at the cap."""

import sys
import time
from collections import OrderedDict

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
MAX = 600
cache: OrderedDict[int, bytes] = OrderedDict()
start = time.monotonic()
i = 0
while time.monotonic() - start < SECONDS:
    cache[i] = bytes([i % 251]) * 65_536
    cache.move_to_end(i)
    if len(cache) > MAX:
        cache.popitem(last=False)
    i += 1
    time.sleep(0.5)
