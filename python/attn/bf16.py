"""bf16 in NumPy (which has no bf16 type): raw uint16 bits."""

import numpy as np


def to_bits(x):
    """float values rounded to nearest even bf16, as uint16 bits (NaN stays
    NaN)."""
    x = np.ascontiguousarray(x, np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return np.where(np.isnan(x), 0x7FC0, rounded).astype(np.uint16)


def from_bits(bits):
    """uint16 bf16 bits as float32 (exact)."""
    return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32)
