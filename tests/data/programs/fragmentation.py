"""A fragmentation high-water mark: half a million small objects built in the first
seconds, then every object but one in 16 freed. The survivors pin their arenas and
pages, so RSS stays near its peak though little is live: not a leak, a level."""

import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 480.0
start = time.monotonic()
time.sleep(20)
objects = [[i, str(i) * 20, (i, i)] for i in range(1_500_000)]
time.sleep(30)
kept = objects[::16]
del objects
while time.monotonic() - start < SECONDS:
    sum(len(x) for x in kept[:1000])
    time.sleep(1.0)
