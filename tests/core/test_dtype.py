"""The forward's dtype: names, `auto`, and what a bundle records."""

import pytest
import torch

import emovec
from emovec import _dtype
from emovec._dtype import cpu_has_native_bf16, resolve_dtype
from tests.conftest import ADAPTERS, copy_of, tiny_llama, wrap


@pytest.mark.parametrize(
    ("name", "want"),
    [("float32", torch.float32), ("bf16", torch.bfloat16), ("torch.float16", torch.float16),
     ("BFloat16", torch.bfloat16), (torch.float32, torch.float32), (None, torch.float32)],
)  # fmt: skip
def test_names_resolve(name, want):
    assert resolve_dtype(name) == want


def test_bad_names_say_what_is_allowed():
    with pytest.raises(ValueError, match="auto, float32, bfloat16, float16"):
        resolve_dtype("int8")
    with pytest.raises(ValueError, match="not supported"):
        resolve_dtype(torch.float64)


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_cpu_flags(monkeypatch, native):
    monkeypatch.setattr(_dtype, "cpu_has_native_bf16", lambda: native)
    assert resolve_dtype("auto") == (torch.bfloat16 if native else torch.float32)


def test_cpu_flags_are_read_not_guessed():
    intel = "processor : 0\nvendor_id : GenuineIntel\nflags : fpu avx2 avx512f\n"
    assert not cpu_has_native_bf16(intel)  # an Intel CPU without the instruction
    assert cpu_has_native_bf16(intel.replace("avx512f", "avx512f amx_bf16"))
    assert cpu_has_native_bf16("vendor_id : AuthenticAMD\nflags : avx2 avx512_bf16\n")
    assert not cpu_has_native_bf16("")


@pytest.fixture(scope="module")
def bf16_backends(tokenizer):
    base = tiny_llama().to(torch.bfloat16)
    return {name: wrap(copy_of(base), tokenizer, name) for name in ADAPTERS}


def test_bundles_record_the_dtype_and_reduce_in_float32(bf16_backends):
    from emovec.extract import extract_vectors
    from tests.extract.conftest import toy_neutral, toy_stories

    backend = bf16_backends["hf"]
    assert backend.dtype == torch.bfloat16
    ev = extract_vectors(
        backend, toy_stories(), toy_neutral()[:4], sites="1:3", start=4, progress=False
    )
    assert ev.metadata["dtype"] == "bfloat16" and ev.vectors.dtype == torch.float32
    assert torch.allclose(ev.vectors.norm(dim=-1), torch.ones(4, 2), atol=1e-5)


def test_adapters_agree_in_bfloat16_within_tolerance(bf16_backends):
    # bfloat16 keeps 8 bits of mantissa: the adapters' kernels may round differently, so the
    # tolerance is relative to the activations' scale (stated: 2% of the mean norm per row).
    batch = bf16_backends["hf"].tokenize(["The letter came on a Tuesday.", "Rain again."])
    sites = [emovec.Site(0), emovec.Site(2)]
    captured = {n: b.capture(batch, sites) for n, b in bf16_backends.items()}
    for name in ("transformer_lens", "nnsight"):
        for site in sites:
            ref, other = captured["hf"][site].float(), captured[name][site].float()
            mask = batch.attention_mask.bool()
            err = (ref - other).norm(dim=-1)[mask] / ref.norm(dim=-1)[mask]
            assert float(err.max()) < 0.02, (name, site)
