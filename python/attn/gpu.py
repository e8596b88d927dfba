"""Calls attn GPU kernels from Python through attnrt (ctypes).

    module = attn.gpu.Module("kernels.cubin", "kernels.manifest")
    o, lse = module.run("causal", q=q, k=k, v=v)          # torch CUDA tensors

Arguments are bound by role (q, k, v, mask0, ..., score0, ..., o, lse; see
`module.arguments(name)`); outputs that are not given are allocated (torch
only). Tensors are passed by data pointer with their sizes and strides;
attnrt checks every argument against the manifest before a launch and
raises `AttnrtError` with its message. Works on anything with
`data_ptr()`/`dtype`/`shape`/`stride()` (PyTorch); NumPy arrays are
accepted by `plan` (checks only, no launch).
"""

import ctypes
import os

MAX_RANK = 8
_DTYPES = {"float32": 0, "float16": 1, "bfloat16": 2, "int32": 3, "int64": 4,
           "bool": 5, "uint8": 5, "int8": 6}
_ELEMENTS = {"f32": "float32", "f16": "float16", "bf16": "bfloat16",
             "i32": "int32", "i64": "int64", "i1": "bool", "i8": "int8"}


class AttnrtError(RuntimeError):
    pass


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32), ("sizes", ctypes.c_int64 * MAX_RANK),
                ("strides", ctypes.c_int64 * MAX_RANK)]


class _Arg(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("reserved", ctypes.c_int32),
                ("tensor", _Tensor), ("int_value", ctypes.c_int64),
                ("float_value", ctypes.c_double)]


class LaunchConfig(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_uint32), ("block", ctypes.c_uint32),
                ("shared_bytes", ctypes.c_uint32), ("work_items", ctypes.c_int64),
                ("splits", ctypes.c_uint32), ("workspace_bytes", ctypes.c_uint64)]


def _library(path=None):
    path = path or os.environ.get("ATTNRT_LIBRARY") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "lib",
        "libattnrt.so")
    lib = ctypes.CDLL(path)
    lib.attnrt_last_error.restype = ctypes.c_char_p
    lib.attnrt_kernel_name.restype = ctypes.c_char_p
    lib.attnrt_module_create_from_files.argtypes = [
        ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.attnrt_module_destroy.argtypes = [ctypes.c_void_p]
    lib.attnrt_kernel_count.argtypes = [ctypes.c_void_p]
    lib.attnrt_kernel_name.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.attnrt_program_name.restype = ctypes.c_char_p
    lib.attnrt_program_count.argtypes = [ctypes.c_void_p]
    lib.attnrt_program_name.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.attnrt_plan.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                ctypes.POINTER(_Arg), ctypes.c_int32,
                                ctypes.POINTER(LaunchConfig)]
    lib.attnrt_plan_for_device.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                           ctypes.POINTER(_Arg), ctypes.c_int32,
                                           ctypes.c_int32, ctypes.POINTER(LaunchConfig)]
    lib.attnrt_launch.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                  ctypes.POINTER(_Arg), ctypes.c_int32,
                                  ctypes.c_void_p]
    lib.attnrt_synchronize.argtypes = [ctypes.c_void_p]
    return lib


def _dtype_name(x):
    name = str(x.dtype)
    return name.split(".")[-1]


def _tensor_arg(x, arg):
    """Fills `arg` (an _Arg) with tensor `x`: slice assignments, one per
    field array (a launch's host time is mostly this Python)."""
    name = _dtype_name(x)
    if name not in _DTYPES:
        raise AttnrtError(f"attnrt: unsupported tensor dtype {name}")
    tensor = arg.tensor
    tensor.dtype = _DTYPES[name]
    shape = tuple(x.shape)
    rank = len(shape)
    if rank > MAX_RANK:
        raise AttnrtError(f"attnrt: rank {rank} is above {MAX_RANK}")
    tensor.rank = rank
    if hasattr(x, "data_ptr"):
        tensor.data = x.data_ptr()
        strides = x.stride()
    else:  # NumPy: strides in bytes
        tensor.data = x.ctypes.data
        strides = tuple(s // x.itemsize for s in x.strides)
    tensor.sizes[:rank] = shape
    tensor.strides[:rank] = strides


class Module:
    """A compiled GPU module: the binary (cubin or PTX) and its manifest."""

    def __init__(self, binary, manifest, library=None):
        self._lib = _library(library)
        self._handle = ctypes.c_void_p()
        if self._lib.attnrt_module_create_from_files(
                binary.encode(), manifest.encode(), ctypes.byref(self._handle)):
            raise AttnrtError(self._lib.attnrt_last_error().decode())
        self._signatures, self._info = _read_manifest(manifest)
        self._roles = {kernel: frozenset(role for role, *_ in signature)
                       for kernel, signature in self._signatures.items()}

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.attnrt_module_destroy(self._handle)
            self._handle = None

    @property
    def kernels(self):
        return [self._lib.attnrt_kernel_name(self._handle, i).decode()
                for i in range(self._lib.attnrt_kernel_count(self._handle))]

    @property
    def programs(self):
        """Spec functions of several ops, launched step by step (run them
        by name like kernels)."""
        return [self._lib.attnrt_program_name(self._handle, i).decode()
                for i in range(self._lib.attnrt_program_count(self._handle))]

    def launch_info(self, kernel):
        """{'block', 'q_tile', 'per_block', 'smem', 'layout', 'kv_layout'} of `kernel`:
        per_block 1 is the tensor-core body (a block per query tile). Selection
        kernels have 'select' (rows) and 'scratch' (and 'grid_sync' where their
        blocks synchronize grid-wide); programs (spec functions of
        several ops, launched step by step) have 'program', 'temps', 'steps'."""
        return self._info[kernel]

    def arguments(self, kernel):
        """[(role, 'in'|'out', 'buffer'|'scalar', element, shape)] of `kernel`."""
        return self._signatures[kernel]

    def _args(self, kernel, values):
        if kernel not in self._signatures:
            raise AttnrtError(f"attnrt: no kernel '{kernel}' in the module "
                              f"(kernels: {', '.join(self._signatures)})")
        signature = self._signatures[kernel]
        unknown = values.keys() - self._roles[kernel]
        if unknown:
            raise AttnrtError(f"attnrt: kernel '{kernel}' has no argument "
                              f"{', '.join(sorted(unknown))}")
        args = (_Arg * len(signature))()
        for i, (role, _, kind, element, _) in enumerate(signature):
            if role not in values:
                raise AttnrtError(f"attnrt: kernel '{kernel}': missing argument '{role}'")
            x = values[role]
            if kind == "buffer":
                _tensor_arg(x, args[i])
            elif getattr(x, "shape", ()) not in ((), None):
                raise AttnrtError(f"attnrt: kernel '{kernel}': argument {i} ({role}): "
                                  f"expected a scalar {element}")
            elif element == "f32":
                args[i] = _Arg(kind=2, float_value=float(x))
            else:
                args[i] = _Arg(kind=1, int_value=int(x))
        return args

    def plan(self, kernel, multiprocessors=0, **values):
        """Checks the arguments (no launch); returns the launch config on a
        GPU of `multiprocessors` SMs (0: without split keys)."""
        args = self._args(kernel, values)
        config = LaunchConfig()
        if self._lib.attnrt_plan_for_device(self._handle, kernel.encode(), args, len(args),
                                            multiprocessors, ctypes.byref(config)):
            raise AttnrtError(self._lib.attnrt_last_error().decode())
        return config

    def run(self, kernel, stream=None, **values):
        """Launches `kernel` on `stream` (a torch.cuda.Stream, a raw CUstream
        handle, or None for the current stream); allocates outputs not given
        (torch tensors on Q's device) and returns the outputs in order."""
        signature = self._signatures.get(kernel, [])
        outputs = []
        for role, direction, _, element, shape in signature:
            if direction != "out":
                continue
            if role not in values:
                values[role] = _allocate_output(
                    role, shape, element, dict(values, __layout__=self._info[kernel].get("layout")))
            outputs.append(values[role])
        args = self._args(kernel, values)
        if stream is None:
            stream = _current_stream(next(
                (x for x in values.values() if hasattr(x, "is_cuda")), None))
        handle = getattr(stream, "cuda_stream", stream)
        if self._lib.attnrt_launch(self._handle, kernel.encode(), args, len(args),
                                   ctypes.c_void_p(handle or 0)):
            raise AttnrtError(self._lib.attnrt_last_error().decode())
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _current_stream(q):
    try:
        import torch
    except ImportError:
        return None
    if isinstance(q, torch.Tensor) and q.is_cuda:
        return torch.cuda.current_stream(q.device).cuda_stream
    return None


def _allocate_output(role, shape, element, values):
    import torch
    q = values.get("q")
    if all(s >= 0 for s in shape):
        # Static: on the device of any torch argument (programs may have no q).
        device = next((x.device for x in values.values()
                       if isinstance(x, torch.Tensor)), None)
        if device is not None:
            return torch.empty(shape, dtype=getattr(torch, _ELEMENTS[element]),
                               device=device)
    if not isinstance(q, torch.Tensor):
        raise AttnrtError(f"attnrt: cannot allocate output '{role}' without a torch q")
    if any(s < 0 for s in shape):
        v = values["v"]
        if role == "o":
            shape = list(q.shape[:-1]) + [v.shape[-1]]
        elif q.dim() == 3:  # thd: [H, T]
            shape = [q.shape[1], q.shape[0]]
        elif values.get("__layout__") == "bshd":
            shape = [q.shape[0], q.shape[2], q.shape[1]]
        else:
            shape = [q.shape[0], q.shape[1], q.shape[2]]
    return torch.empty(shape, dtype=getattr(torch, _ELEMENTS[element]),
                       device=q.device)


def _read_manifest(path):
    signatures, info, current = {}, {}, None
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0] in ("kernel", "program"):
                current = signatures.setdefault(words[1], [])
                # Flags (grid_sync) take no value.
                grid_sync = "grid_sync" in words
                words = [w for w in words if w != "grid_sync"]
                fields = dict(zip(words[2::2], words[3::2]))
                info[words[1]] = {key: (value if key.endswith("layout") else int(value))
                                  for key, value in fields.items() if key != "args"}
                if words[0] == "program":
                    info[words[1]]["program"] = True
                if grid_sync:
                    info[words[1]]["grid_sync"] = True
            elif words[0] == "arg":
                role, direction, kind, element = words[1:5]
                shape = [int(x) for x in words[6:]] if kind == "buffer" else []
                current.append((role, direction, kind, element, shape))
    return signatures, info
