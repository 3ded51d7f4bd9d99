import os

import pytest
import torch
from safetensors.torch import save_file

from emovec import Site
from emovec.vectors import (
    EmotionVectors,
    ModelMismatchError,
    UnknownNameError,
    VectorFileError,
    write_atomic,
)
from tests.contract import identity_backend

EMOTIONS = ("calm", "afraid", "happy", "hopeful")
SITES = (Site(2), Site(5, "resid_pre"))
SHA = "ab" * 32


def _bundle(d: int = 6) -> EmotionVectors:
    v = torch.randn(len(EMOTIONS), len(SITES), d, generator=torch.Generator().manual_seed(0))
    meta = {
        "model": {"model_id": "org/model", "weights_sha256": SHA},
        "d_model": d,
        "n_layers": 8,
        "residual_norms": {"resid_post.2": 3.5, "resid_pre.5": 7.25},
        "recipe": {"start": 50, "neutral_variance": 0.5},
    }
    return EmotionVectors(v / v.norm(dim=-1, keepdim=True), EMOTIONS, SITES, meta)


def _backend(d_model=6, n_layers=8, model_id="org/model", sha=SHA):
    return identity_backend(
        d_model=d_model, n_layers=n_layers, model_id=model_id, weights_sha256=sha
    )


def test_round_trip_keeps_everything(tmp_path):
    ev = _bundle()
    path = ev.save(tmp_path / "v.safetensors")
    back = EmotionVectors.load(path)
    assert back.emotions == ev.emotions and back.sites == ev.sites
    torch.testing.assert_close(back.vectors, ev.vectors, atol=0, rtol=0)
    assert {k: v for k, v in back.metadata.items() if k != "path"} == ev.metadata
    assert back.metadata["path"] == str(path)


def test_lookups():
    ev = _bundle()
    torch.testing.assert_close(ev.at("resid_pre.5"), ev.vectors[:, 1])
    torch.testing.assert_close(ev.vector("happy", Site(2)), ev.vectors[2, 0])
    assert ev.at(2).shape == (4, 6)  # a bare layer number means resid_post
    assert ev.residual_norm("resid_pre.5") == 7.25
    assert ev.index("hopeful") == 3
    with pytest.raises(UnknownNameError, match="Did you mean 'hopeful'"):
        ev.index("hopefull")
    with pytest.raises(KeyError, match="No site resid_post.3"):
        ev.at(3)


def test_select_reorders_and_subsets():
    ev = _bundle()
    sub = ev.select(["happy", "calm"], sites=["resid_pre.5"])
    assert sub.emotions == ("happy", "calm") and sub.sites == (Site(5, "resid_pre"),)
    torch.testing.assert_close(sub.vectors[:, 0], ev.vectors[[2, 0], 1])


def test_invalid_bundles_are_refused():
    with pytest.raises(ValueError, match=r"\[emotion, site, d_model\]"):
        EmotionVectors(torch.zeros(2, 1, 3), ("a",), (Site(0),))
    with pytest.raises(ValueError, match="Duplicate emotion 'a'"):
        EmotionVectors(torch.zeros(2, 1, 3), ("a", "a"), (Site(0),))


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "v.safetensors"
    _bundle().save(path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        _bundle(d=6).select(["calm", "afraid"]).save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.safetensors"]  # no temp file left


def test_write_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    write_atomic(path, b"one")
    write_atomic(path, b"two!")
    assert path.read_bytes() == b"two!"


@pytest.mark.parametrize("cut", [0, 5, 100, -10])
def test_truncated_files_give_a_clear_error(tmp_path, cut):
    good = _bundle().save(tmp_path / "good.safetensors").read_bytes()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good[:cut])
    with pytest.raises(VectorFileError, match=r"bad\.safetensors .*(truncated or corrupt)"):
        EmotionVectors.load(bad)


def test_corrupt_and_foreign_files_give_a_clear_error(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(VectorFileError, match="garbage.safetensors"):
        EmotionVectors.load(garbage)
    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(VectorFileError, match="weights.safetensors"):
        EmotionVectors.load(foreign)
    with pytest.raises(VectorFileError, match="Cannot read vector file .*missing"):
        EmotionVectors.load(tmp_path / "missing.safetensors")


def test_check_accepts_the_source_model():
    ev = _bundle()
    assert ev.check(_backend()) is ev


@pytest.mark.parametrize(
    ("backend", "match"),
    [
        (_backend(n_layers=12), "8 layers vs 12"),
        (_backend(sha="cd" * 32), "weights sha256"),
        (_backend(model_id="org/other", sha=None), "model 'org/model' vs 'org/other'"),
    ],
)
def test_check_refuses_another_model_unless_allowed(backend, match):
    ev = _bundle()
    with pytest.raises(ModelMismatchError, match=match):
        ev.check(backend)
    assert ev.check(backend, allow_mismatch=True) is ev


def test_width_and_missing_layers_are_refused_even_with_the_override():
    ev = _bundle()
    with pytest.raises(ModelMismatchError, match="d_model=6 but org/model has d_model=8"):
        ev.check(_backend(d_model=8), allow_mismatch=True)
    with pytest.raises(ModelMismatchError, match="site resid_pre.5"):
        ev.check(_backend(n_layers=4), allow_mismatch=True)


def test_check_refuses_another_compatibility_mode_unless_allowed():
    meta_on = {**_bundle().metadata, "compatibility_mode": True}
    bundle = EmotionVectors(_bundle().vectors, _bundle().emotions, _bundle().sites, meta_on)
    plain = _backend()  # an HF or nnsight backend has no such mode: nothing to compare
    assert bundle.check(plain) is bundle
    off = identity_backend(
        d_model=6, n_layers=8, model_id="org/model", weights_sha256=SHA, compatibility_mode=False
    )
    with pytest.raises(ModelMismatchError, match="compatibility mode on at extraction vs off"):
        bundle.check(off)
    assert bundle.check(off, allow_mismatch=True) is bundle


def test_extraction_records_the_bridge_compatibility_mode(tiny_backends):
    from emovec.extract import template_vectors

    tl = tiny_backends["transformer_lens"]
    ev = template_vectors(tl, ["calm", "afraid"], sites=[1], progress=False)
    assert ev.metadata["compatibility_mode"] is False
    hf = template_vectors(tiny_backends["hf"], ["calm", "afraid"], sites=[1], progress=False)
    assert hf.metadata["compatibility_mode"] is None


# -- one validated loading path -----------------------------------------------------------------
def _saved_raw(tmp_path, vectors, meta=None, emotions=EMOTIONS, sites=SITES):
    """A file written like `save` does but without the constructor's checks (a hostile file)."""
    import json

    from safetensors.torch import save

    header = {
        "format": "emovec.vectors/1",
        "emotions": list(emotions),
        "sites": [str(s) for s in sites],
        "metadata": meta or {},
    }
    path = tmp_path / "raw.safetensors"
    path.write_bytes(save({"vectors": vectors}, metadata={"emovec": json.dumps(header)}))
    return path


def test_an_all_zero_row_is_refused_naming_the_emotion(tmp_path):
    v = _bundle().vectors.clone()
    v[2, 1] = 0.0
    with pytest.raises(ValueError, match=r"'happy' at resid_pre.5 is all zeros"):
        EmotionVectors(v, EMOTIONS, SITES)
    with pytest.raises(VectorFileError, match=r"raw.safetensors.*'happy' at resid_pre.5 is all"):
        EmotionVectors.load(_saved_raw(tmp_path, v))


def test_integer_vectors_are_refused(tmp_path):
    v = torch.ones(len(EMOTIONS), len(SITES), 6, dtype=torch.int32)
    with pytest.raises(VectorFileError, match="must be floating point"):
        EmotionVectors.load(_saved_raw(tmp_path, v))


def test_other_float_dtypes_load_as_float32(tmp_path):
    v = _bundle().vectors.double()
    back = EmotionVectors.load(_saved_raw(tmp_path, v))
    assert back.vectors.dtype == torch.float32


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"d_model": 7}, r"d_model=7 but the vectors are 6 wide"),
        ({"sites": ["resid_post.2", "resid_post.5"]}, r"metadata lists sites"),
        ({"n_layers": 4}, r"4 layers but a site lies at layer 5"),
        ({"residual_norms": {"resid_post.2": 0.0}}, r"residual norm recorded for resid_post.2"),
        ({"residual_norms": {"resid_post.2": "big"}}, r"must be a positive number"),
    ],
)
def test_metadata_that_disagrees_with_the_tensor_is_refused(tmp_path, meta, message):
    with pytest.raises(VectorFileError, match=message):
        EmotionVectors.load(_saved_raw(tmp_path, _bundle().vectors, meta))


def test_rows_that_are_not_unit_load_with_a_warning_and_normalized_fixes_them(tmp_path):
    from emovec.vectors import BundleWarning

    v = _bundle().vectors * 1000.0
    with pytest.warns(BundleWarning, match=r"8 of 8 rows are not unit vectors.*length 1000"):
        long = EmotionVectors.load(_saved_raw(tmp_path, v))
    unit = long.normalized()
    torch.testing.assert_close(unit.vectors.norm(dim=-1), torch.ones(4, 2))
    assert unit.metadata["normalized_from"]["resid_post.2"]["calm"] == pytest.approx(1000.0)
    path = unit.save(tmp_path / "unit.safetensors")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EmotionVectors.load(path)


def test_a_long_row_steers_by_the_requested_strength_not_its_length():
    # Steer's docstring promises the unit vector: rows of length 1000 must not steer 1000x.
    from emovec.interventions import Steer

    ev = _bundle()
    long = EmotionVectors(ev.vectors * 1000.0, ev.emotions, ev.sites, ev.metadata)
    [edit] = Steer("calm", 0.5, sites=[Site(2)]).edits(long, _backend())
    step = edit.apply(torch.zeros(1, 1, 6))[0, 0]
    assert float(step.norm()) == pytest.approx(0.5 * 3.5, rel=1e-5)
    torch.testing.assert_close(step / step.norm(), ev.vector("calm", Site(2)))


def test_an_absurd_strength_warns():
    from emovec.interventions import Steer
    from emovec.ops import SteeringWarning

    with pytest.warns(SteeringWarning, match="the output will be noise"):
        Steer("calm", 1e9, sites=[Site(2)]).edits(_bundle(), _backend())
