"""Keeping freed memory in the process (`keep_freed_memory`).

Training allocates and frees tensors of tens of megabytes many times a
second (a batch's activations, their gradients). glibc's malloc hands any
block over its mmap threshold (at most 32 MiB by its own adjustment) to the
kernel and back on every free, so each new batch touches fresh pages: on
these machines `fuse-cv --tune-epochs` spent more than half its CPU time in
the kernel zeroing them (550,000 page faults a second). Raising the
threshold and the trim threshold keeps those blocks in the heap for the
next batch; the CPU time goes to the arithmetic instead. Nothing is
computed differently: the same arithmetic on memory from another place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap
TRIM_THRESHOLD = 2**31 - 1  # the most mallopt takes: under 2 GiB free at the heap's top stays there
TOP_PAD = 256 << 20  # the heap grows 256 MiB at a time


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed blocks for reuse instead of
    returning them to the kernel. True when it took; False where the C
    library has no `mallopt` (not glibc), which changes nothing but speed."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("no mallopt in the C library (%s): freed memory goes back to the kernel", name)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # M_MMAP_THRESHOLD first: setting it turns off glibc's own adjustment of it
    took = [mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            mallopt(M_TOP_PAD, TOP_PAD)]
    return all(took)
