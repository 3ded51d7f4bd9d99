"""llama.cpp control vectors: written with the gguf writer, read back with its reader."""

import numpy as np
import pytest
import torch
from gguf import GGUFReader, GGUFWriter
from hypothesis import given
from hypothesis import strategies as st

from emovec._site import Site
from emovec.cli import main
from emovec.interop import export_gguf, import_gguf, llama_layer, parse_mix, read_gguf
from emovec.vectors import EmotionVectors, ModelMismatchError, VectorFileError

NAMES = ("calm", "desperate", "joyful", "self-confident")


def bundle(d: int = 8, layers: tuple[int, ...] = (1, 3, 5), seed: int = 0) -> EmotionVectors:
    g = torch.Generator().manual_seed(seed)
    v = torch.nn.functional.normalize(torch.randn(len(NAMES), len(layers), d, generator=g), dim=-1)
    norms = {f"resid_post.{n}": 10.0 + n for n in layers}
    meta = {
        "d_model": d,
        "n_layers": 6,
        "residual_norms": norms,
        "model": {"model_id": "HuggingFaceTB/SmolLM2-135M-Instruct"},
    }
    return EmotionVectors(v, NAMES, [Site(n) for n in layers], meta)


def field(reader: GGUFReader, name: str):
    f = reader.get_field(name)
    assert f is not None, name
    return f.contents()


def test_export_reads_back_with_the_gguf_reader(tmp_path):
    ev = bundle()
    path = export_gguf(ev, tmp_path / "cv.gguf", "calm - desperate", 0.25, ["resid_post.3", 5])
    reader = GGUFReader(path)
    assert field(reader, "general.architecture") == "controlvector"
    assert field(reader, "controlvector.model_hint") == "llama"
    assert field(reader, "controlvector.layer_count") == 2
    assert [t.name for t in reader.tensors] == ["direction.3", "direction.5"]
    for tensor, layer in zip(reader.tensors, (3, 5), strict=True):
        assert tensor.tensor_type == 0 and list(tensor.shape) == [8]  # F32, [d_model]
        mix = ev.vector("calm", layer) - ev.vector("desperate", layer)
        expected = 0.25 * (10.0 + layer) * mix / mix.norm()
        np.testing.assert_allclose(np.asarray(tensor.data), expected.numpy(), rtol=1e-6, atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def test_weighted_mix_and_default_site(tmp_path):
    ev = bundle()
    cv = read_gguf(export_gguf(ev, tmp_path / "m.gguf", "0.5*calm+self-confident", 1.0))
    assert list(cv.directions) == [3]  # nearest 2/3 of 6 layers among 1, 3, 5
    mix = 0.5 * ev.vector("calm", 3) + ev.vector("self-confident", 3)
    torch.testing.assert_close(cv.directions[3], 13.0 * mix / mix.norm())
    assert cv.extra["emovec.mix"] == "0.5*calm+self-confident"


@given(
    emotion=st.sampled_from(NAMES),
    strength=st.floats(0.01, 3.0) | st.floats(-3.0, -0.01),
    sites=st.sets(st.sampled_from([1, 3, 5]), min_size=1),
    seed=st.integers(0, 1000),
)
def test_round_trip_export_then_import_is_the_input(
    emotion, strength, sites, seed, tmp_path_factory
):
    ev = bundle(seed=seed)
    path = tmp_path_factory.mktemp("rt") / "rt.gguf"
    chosen = sorted(sites)
    back = import_gguf(export_gguf(ev, path, emotion, strength, chosen), like=ev)
    assert back.emotions == (emotion,) and [s.layer for s in back.sites] == chosen
    sign = 1.0 if strength > 0 else -1.0
    for layer in chosen:
        torch.testing.assert_close(back.vector(emotion, layer), sign * ev.vector(emotion, layer))
        norm = back.metadata["control_vector"]["norms"][f"resid_post.{layer}"]
        assert norm == pytest.approx(abs(strength) * (10.0 + layer), rel=1e-5)
        assert back.residual_norm(layer) == ev.residual_norm(layer)


def test_a_repeng_style_file_imports_under_its_file_name(tmp_path):
    path = tmp_path / "happy.gguf"
    writer = GGUFWriter(path, "controlvector")  # what repeng's export_gguf writes
    writer.add_string("controlvector.model_hint", "llama")
    writer.add_uint32("controlvector.layer_count", 2)
    for layer in (2, 4):
        writer.add_tensor(f"direction.{layer}", np.full(8, float(layer), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    back = import_gguf(path)
    assert back.emotions == ("happy",) and [str(s) for s in back.sites] == [
        "resid_post.2",
        "resid_post.4",
    ]
    assert back.metadata["control_vector"]["norms"]["resid_post.4"] == pytest.approx(4 * 8**0.5)
    torch.testing.assert_close(back.vector("happy", 2), torch.full((8,), 8**-0.5))


def _write(path, arch, tensors):
    writer = GGUFWriter(path, arch)
    for name, data in tensors.items():
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_clear_errors_for_files_that_are_not_control_vectors(tmp_path):
    model = _write(
        tmp_path / "model.gguf", "llama", {"token_embd.weight": np.ones((4, 8), np.float32)}
    )
    with pytest.raises(
        VectorFileError, match="architecture 'llama', not a llama.cpp control vector"
    ):
        read_gguf(model)
    zero = _write(tmp_path / "zero.gguf", "controlvector", {"direction.0": np.ones(8, np.float32)})
    with pytest.raises(VectorFileError, match="N >= 1"):
        read_gguf(zero)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(VectorFileError, match="not a readable GGUF"):
        read_gguf(junk)
    empty = _write(tmp_path / "empty.gguf", "controlvector", {})
    with pytest.raises(VectorFileError, match="no direction.N"):
        read_gguf(empty)


def test_width_mismatch_with_the_model_is_refused(tmp_path):
    path = export_gguf(bundle(d=8), tmp_path / "cv.gguf", "calm", 0.1)
    with pytest.raises(ModelMismatchError, match="width 8 but .* has d_model=16"):
        import_gguf(path, like=bundle(d=16))


def test_sites_llama_cpp_cannot_steer():
    assert llama_layer("resid_pre.4") == 3
    with pytest.raises(ValueError, match="start at the output of block 1"):
        llama_layer("resid_post.0")
    with pytest.raises(ValueError, match="terms cancel"):
        export_gguf(bundle(), "/nonexistent/x.gguf", "calm - calm", 0.1)
    with pytest.raises(ValueError, match="Cannot read the mix"):
        parse_mix("calm +")


def test_cli_export_and_import(tmp_path, capsys):
    ev = bundle()
    ev.save(tmp_path / "b.safetensors")
    out = tmp_path / "cv.gguf"
    code = main(
        [
            "vectors",
            "export-gguf",
            str(tmp_path / "b.safetensors"),
            "--mix",
            "calm - desperate",
            "--strength",
            "0.2",
            "--sites",
            "1,5",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and "direction.1" in capsys.readouterr().out
    code = main(
        [
            "vectors",
            "import-gguf",
            str(out),
            "--like",
            str(tmp_path / "b.safetensors"),
            "--out",
            str(tmp_path / "back.safetensors"),
        ]
    )
    assert code == 0
    back = EmotionVectors.load(tmp_path / "back.safetensors")
    assert back.emotions == ("calm - desperate",) and back.n_layers == 6
    code = main(
        [
            "vectors",
            "import-gguf",
            str(tmp_path / "b.safetensors"),
            "--out",
            str(tmp_path / "x.safetensors"),
        ]
    )
    assert code == 1 and "not a readable GGUF" in capsys.readouterr().err
