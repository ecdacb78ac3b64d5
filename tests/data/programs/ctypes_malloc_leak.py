"""A C-level leak: libc malloc through ctypes, never freed, every page touched (so RSS,
not only virtual size, grows). 400 KB every half second: about 47 MB/min, invisible to
tracemalloc and gc."""

import ctypes
import ctypes.util
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 480.0
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
SIZE = 400 * 1024

start = time.monotonic()
while time.monotonic() - start < SECONDS:
    p = libc.malloc(SIZE)
    ctypes.memset(p, 1, SIZE)
    time.sleep(0.5)
