"""attn-mlir's Python package: spec parsing and the float64 reference."""
