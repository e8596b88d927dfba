"""Stand-ins for device tensors in the attnrt tests (no GPU here): what
attnrt sees of a tensor, and printing an expected error."""

import numpy as np

from attn import gpu


class Fake:
    """What attnrt sees of a tensor (NumPy has no bf16, and shapes too large
    to allocate): sizes, byte strides, a dtype name and a data pointer
    (`offset` bytes into a real buffer)."""

    def __init__(self, shape, dtype="bfloat16", itemsize=2, strides=None, offset=0):
        self.array = np.zeros(16, np.uint8)
        self.shape, self.dtype, self.itemsize = shape, dtype, itemsize
        if strides is None:
            strides, step = [], itemsize
            for size in reversed(shape):
                strides.insert(0, step)
                step *= size
        self.strides = tuple(strides)
        self.ctypes = type("Pointer", (), {"data": self.array.ctypes.data + offset})()


def bf16(shape, offset=0):
    return Fake(shape, offset=offset)


def expect_error(what, fn):
    try:
        fn()
    except gpu.AttnrtError as e:
        print(f"{what}: {e}")
        return
    print(f"{what}: NO ERROR")
