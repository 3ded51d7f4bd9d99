"""Bad input raises a clear error before any model call (a forward hook counts the calls)."""

import pytest
import torch

from emovec import Site
from emovec.interventions import (
    LogProb,
    Patch,
    Probability,
    Steer,
    dose_response,
    last,
    parse_metric,
    patching,
    preference_suite,
    pressure_suite,
    specificity,
)
from emovec.vectors import EmotionVectors, ModelMismatchError, UnknownNameError

from .conftest import ForwardCounter


def test_the_counter_sees_forwards(tiny_backends):
    # the guard itself: without it every "no forward" assertion below would pass vacuously
    backend = tiny_backends["nnsight"]
    with ForwardCounter(backend) as counter:
        backend.run(["hello"])
    assert counter.calls >= 1


def test_nan_and_inf_strength_fail_at_construction():
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="strength must be a finite number"):
            Steer("calm", bad)


@pytest.mark.parametrize("adapter", ["hf", "transformer_lens", "nnsight"])
def test_compile_errors_happen_before_any_forward(tiny_backends, tiny_bundle, adapter):
    backend = tiny_backends[adapter]
    batch = backend.tokenize(["one two three", "four"])
    cases = [
        (
            Steer(torch.ones(576), 0.1, 0, relative=False),
            ValueError,
            r"width 576.*d_model=64.*another model",
        ),
        (Steer("calm", 0.1, 7), ValueError, r"outside the model: it has 3 layers"),
        (
            Steer("calm", 0.1, 0, positions=[5]),
            ValueError,
            r"Position 5 is out of range for row 0, which has 3 tokens",
        ),
        (Steer("calm", 0.1, 0, positions=-4), ValueError, r"out of range for row 0"),
        (Steer("calmm", 0.1, 0), UnknownNameError, r"No emotion 'calmm'.*Did you mean 'calm'"),
        (Steer(torch.ones(64), 0.1, 0), None, None),  # relative without a bundle: see below
        (
            Patch(["a b c", "d e", "f"], "calm", 0, last=1),
            ValueError,
            r"3 source rows for 2 target rows",
        ),
        (
            Patch("a", "calm", 0, last=3),
            ValueError,
            r"Patch\(last=3\) is out of range: source row 0",
        ),
        (Patch("a b c", ["calm", "nope"], 0, last=1), UnknownNameError, r"No emotion 'nope'"),
    ]
    with ForwardCounter(backend) as counter:
        for spec, error, message in cases:
            if error is None:
                with pytest.raises(ValueError, match=r"relative strength.*residual norm"):
                    spec.edits(None, backend, batch)
                continue
            with pytest.raises(error, match=message):
                backend.run(batch, spec.edits(tiny_bundle, backend, batch))
        # a mask over another batch shape, and token positions with no batch to resolve them
        bad_mask = torch.ones(1, 9, dtype=torch.bool)
        with pytest.raises(ValueError, match=r"mask has shape \(1, 9\)"):
            Steer("calm", 0.1, 0, positions=bad_mask).edits(tiny_bundle, backend, batch)
        with pytest.raises(ValueError, match="need the batch"):
            Steer("calm", 0.1, 0, positions=last(1)).edits(tiny_bundle, backend)
        # a later spec's error surfaces before an earlier Patch runs its source forward
        with pytest.raises(ValueError, match="outside the model"):
            (Patch("x y", "calm", 0, last=1) + Steer("calm", 0.1, 9)).edits(
                tiny_bundle, backend, batch
            )
    assert counter.calls == 0


def test_bundle_of_another_width_or_model(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    wide = EmotionVectors(torch.ones(1, 1, 576) / 24, ("calm",), (Site(0),), {"d_model": 576})
    other = EmotionVectors(
        tiny_bundle.vectors,
        tiny_bundle.emotions,
        tiny_bundle.sites,
        {**tiny_bundle.metadata, "model": {"model_id": "someone-else"}},
    )
    with ForwardCounter(backend) as counter:
        with pytest.raises(ModelMismatchError, match="d_model=576"):
            Steer("calm", 0.1, 0).edits(wide, backend)
        with pytest.raises(ModelMismatchError, match="another model"):
            Steer("calm", 0.1, 0).edits(other, backend)
        assert Steer("calm", 0.1, 0).edits(other, backend, allow_mismatch=True)
    assert counter.calls == 0


def test_experiments_validate_before_running(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    with ForwardCounter(backend) as counter:

        def run(**kw):
            emotion = kw.pop("emotion", "calm")
            return dose_response(backend, tiny_bundle, emotion, ["hi there"], progress=False, **kw)

        with pytest.raises(ValueError, match="strength must be a finite"):
            run(metric=LogProb(" calm"), strengths=[0.1, float("nan")])
        with pytest.raises(ValueError, match="n_random must be >= 2"):
            run(metric=LogProb(" calm"), n_random=1)
        with pytest.raises(UnknownNameError, match="Did you mean 'hostile'"):
            run(metric=LogProb(" calm"), emotion="hostle")
        with pytest.raises(ValueError, match="encodes to 2 tokens"):
            run(metric=LogProb(" desperately unhappy"))
        with pytest.raises(ValueError, match="outside the model"):
            run(metric=LogProb(" calm"), sites=[5])
        with pytest.raises(ValueError, match="shuffled control must be another emotion"):
            run(metric=LogProb(" calm"), shuffled="calm")
        with pytest.raises(ValueError, match="Patching every position needs equal lengths"):
            patching(
                backend,
                tiny_bundle,
                "one two three",
                "four",
                metric=Probability("A"),
                progress=False,
            )
        with pytest.raises(UnknownNameError):
            specificity(backend, tiny_bundle, ["hi"], emotions=["calm", "glee"], progress=False)
        with pytest.raises(UnknownNameError, match="blissful"):
            preference_suite(backend, tiny_bundle, emotions=["blisful"], progress=False)
        with pytest.raises(ValueError, match="non-zero strengths"):
            pressure_suite(backend, tiny_bundle, strengths=[0.0], progress=False)
    assert counter.calls == 0


def test_metric_spelling_errors():
    with pytest.raises(ValueError, match="Cannot read metric 'probability'"):
        parse_metric("probability")
    with pytest.raises(ValueError, match="Cannot read metric 'logitdiff:A'"):
        parse_metric("logitdiff:A")
