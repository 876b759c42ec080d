"""Shared memory for tensors: chorus_torch.empty."""

import ctypes
import math
import weakref

import torch

from . import _lib


def empty(*size, dtype=torch.float32):
    """empty returns a CPU tensor of the given size and dtype in shared memory (chorusMemAlloc),
    zeroed. Ranks of one host lend each other the large messages of collectives on such tensors:
    the receiving rank reads (or reduces) them straight out of the sender's tensor instead of a
    copy through the shared-memory ring, which makes large broadcasts and all-gathers about
    twice as fast. Use it for the buffers you communicate most, such as a flat gradient buffer.
    The memory is given back when the tensor and every view of it are gone.

        grads = chorus_torch.empty(1 << 24)            # 64 MiB of float32
        dist.all_reduce(grads)
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    shape = torch.Size(size)
    if any(d < 0 for d in shape):
        raise ValueError(f"chorus_torch.empty: negative dimension in {tuple(shape)}")
    count = math.prod(shape)
    nbytes = max(count, 1) * torch.empty((), dtype=dtype).element_size()
    lib = _lib.load()
    ptr = ctypes.c_void_p()
    _lib.check(lib.chorusMemAlloc(ctypes.byref(ptr), nbytes))
    buf = (ctypes.c_byte * nbytes).from_address(ptr.value)
    # Freed when the last tensor over buf is gone; not at exit, when the process's end frees it.
    weakref.finalize(buf, lib.chorusMemFree, ptr.value).atexit = False
    return torch.frombuffer(buf, dtype=dtype)[:count].view(shape)
