"""Which floating-point type a model runs in: names, detection of native bfloat16, `auto`.

`auto` picks bfloat16 where the hardware multiplies bfloat16 matrices natively (a GPU that
supports it, or a CPU with the avx512_bf16 or amx_bf16 instructions: detected from the
processor's flags, never guessed from its vendor) and float32 elsewhere, where bfloat16 would be
emulated and slower. Reductions over activations (running means, PCA, norms) stay in float32
or float64 whatever the forward's type.
"""

import platform
from functools import cache
from pathlib import Path

import torch

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
CHOICES = ("auto", *DTYPES)
# CPU flags (Linux /proc/cpuinfo names) that mean bfloat16 matrix products run natively.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _cpu_flags(cpuinfo: str) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


@cache
def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bfloat16 matrix instructions (avx512_bf16 or amx_bf16; on Arm, the
    `bf16` feature). False where the flags cannot be read (then `auto` stays float32).

    Example:
        >>> cpu_has_native_bf16("flags : fpu sse2 avx2 avx512f avx512_bf16")
        True
        >>> cpu_has_native_bf16("flags : fpu sse2 avx2")
        False
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = _cpu_flags(cpuinfo)
    return bool(flags & BF16_FLAGS) or (
        platform.machine() in ("aarch64", "arm64") and "bf16" in flags
    )


def resolve_dtype(
    dtype: "str | torch.dtype | None", device: "str | torch.device" = "cpu"
) -> torch.dtype:
    """The torch dtype for a name (`auto`, `float32`, `bfloat16`, `float16`) or a torch dtype.

    Example:
        >>> resolve_dtype("float32"), resolve_dtype(torch.bfloat16)
        (torch.float32, torch.bfloat16)
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype {dtype} is not supported; use one of {', '.join(CHOICES)}.")
        return dtype
    name = str(dtype).strip().lower().removeprefix("torch.")
    name = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}.get(
        name, name
    )
    if name == "auto":
        kind = torch.device(device).type
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if kind == "cpu":
            return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
        return torch.float32
    if name not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}: use one of {', '.join(CHOICES)}.")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.bfloat16` -> "bfloat16"."""
    return str(dtype).removeprefix("torch.")
