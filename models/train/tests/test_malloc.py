"""`ser_train.malloc`: freed training buffers stay in the process."""

from __future__ import annotations

import subprocess
import sys
import unittest
from pathlib import Path

from ser_train import malloc

# a process that fills and frees a 64 MiB block 20 times, as PyTorch does a batch's
# activations (through malloc, without numpy's huge pages), then prints its minor
# page faults over those rounds
ROUNDS = """
import ctypes, ctypes.util, resource, sys
from ser_train import malloc
took = malloc.keep_freed_memory() if sys.argv[1] == "keep" else None
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    block = libc.malloc(64 << 20)
    ctypes.memset(block, 1, 64 << 20)
    libc.free(block)
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    return out[0], int(out[1])


class KeepFreedMemoryTests(unittest.TestCase):
    def test_a_freed_buffer_is_reused_instead_of_faulted_in_again(self):
        took, kept = faults("keep")
        if took != "True":
            self.skipTest("the C library has no mallopt (not glibc)")
        _, returned = faults("return")
        pages = (64 << 20) // 4096
        # without it every round faults the buffer's pages in again; with it only the first does
        self.assertGreater(returned, 15 * pages)
        self.assertLess(kept, 3 * pages)

    def test_the_thresholds_fit_mallopts_int(self):
        for value in (malloc.MMAP_THRESHOLD, malloc.TRIM_THRESHOLD, malloc.TOP_PAD):
            self.assertLess(value, 2**31)


if __name__ == "__main__":
    unittest.main()
