import pytest
import torch

from emovec import Site
from emovec.analysis._logit_lens import lens_table, logit_lens
from emovec.vectors import EmotionVectors, ModelMismatchError

META = {"model": {"model_id": "tiny-random-llama"}, "n_layers": 3, "d_model": 64}


def _own_embedding_bundle(backend, names, *, residual_norm=40.0):
    """Each emotion's vector is the input embedding of its own first token (the tiny model ties
    embeddings and unembedding, so the lens must rank that token first)."""
    emb = backend.model.get_input_embeddings().weight.detach()
    ids = [backend.tokenizer.encode(" " + n, add_special_tokens=False)[0] for n in names]
    v = torch.nn.functional.normalize(emb[ids], dim=-1)[:, None]
    meta = dict(META, residual_norms={"resid_post.2": residual_norm})
    return EmotionVectors(v, names, [Site(2)], meta)


def test_a_vector_along_a_token_embedding_promotes_that_token(backend):
    names = ["calm", "afraid", "happy", "angry"]
    lens = logit_lens(backend, _own_embedding_bundle(backend, names), 2, k=5)
    assert lens.scale == 40.0 and lens.vocab_size == 49152
    for row in lens.rows:
        assert row.own_rank == 0
        assert row.top[0][0].strip() == row.emotion
        assert row.top[0][1] > row.top[1][1] > row.bottom[0][1]
    assert lens.own_in_top(0.01) == 1.0
    assert "own rank     0" in lens_table(lens)


def test_mutation_a_shuffled_bundle_no_longer_promotes_its_own_word(backend):
    names = ["calm", "afraid", "happy", "angry"]
    ev = _own_embedding_bundle(backend, names)
    shuffled = EmotionVectors(ev.vectors[[1, 2, 3, 0]], names, ev.sites, ev.metadata)
    lens = logit_lens(backend, shuffled, 2)
    assert all(r.own_rank > 0 for r in lens.rows)


def test_rmsnorm_makes_the_lens_nearly_scale_invariant(backend):
    ev = _own_embedding_bundle(backend, ["calm", "afraid"])
    small = logit_lens(backend, ev, 2, scale=1.0, k=20)
    large = logit_lens(backend, ev, 2, scale=100.0, k=20)
    for a, b in zip(small.rows, large.rows, strict=True):
        assert [t for t, _ in a.top] == [t for t, _ in b.top]


def test_centring_removes_what_every_vector_promotes(backend):
    ev = _own_embedding_bundle(backend, ["calm", "afraid", "happy"])
    lens = logit_lens(backend, ev, 2, centre=True)
    assert lens.centred and all(r.own_rank == 0 for r in lens.rows)


def test_a_bundle_for_another_model_is_refused(backend):
    ev = EmotionVectors(torch.randn(2, 1, 32), ["calm", "afraid"], [Site(1)])
    with pytest.raises(ModelMismatchError, match="d_model=32"):
        logit_lens(backend, ev, 1)
