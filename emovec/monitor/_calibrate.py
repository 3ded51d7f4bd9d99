"""`calibrate`: measure a monitor's baselines on ordinary text with the model at hand.

The readings come from the model's own replies to neutral prompts (through a `Monitor`
observing the generation) and from neutral texts read as they are; `calibration_from_readings`
turns them into a `Calibration`.
"""

import sys
from collections.abc import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from emovec._backend import Backend
from emovec._site import Site
from emovec.vectors import EmotionVectors

from ._calibration import LEVELS, Calibration, calibration_from_readings, vectors_fingerprint
from ._monitor import Monitor
from ._prompts import load_eval_prompts


def calibrate(
    backend: Backend,
    vectors: EmotionVectors,
    *,
    prompts: Sequence[str] | None = None,
    texts: Sequence[str] = (),
    emotions: Sequence[str] | None = None,
    sites: "Sequence[Site | str | int] | None" = None,
    max_new_tokens: int = 48,
    chat: bool = True,
    batch_size: int = 8,
    min_position: int = 1,
    levels: Sequence[float] = LEVELS,
    progress: bool = True,
) -> Calibration:
    """Measure baselines: neutral prompts with the model's own replies, plus plain neutral texts.

    Readings come from the same generation seam the monitor uses (so a baseline and a live
    reading are the same quantity), over every token from `min_position` on: position 0 is an
    attention sink on small models, with readings far outside anything later.

    Args:
        backend: An emovec backend.
        vectors: The bundle the monitor will use.
        prompts: User turns; the model answers each (greedy, `max_new_tokens`). Default: the
            calibration split of the shipped prompts (`load_eval_prompts(split="calibration")`).
        texts: Extra neutral texts read as they are (no generation).
        emotions: Emotions to calibrate (default: all in the bundle).
        sites: Sites to calibrate (default: every site of the bundle).
        max_new_tokens: Length of each reply.
        chat: Wrap prompts in the chat template.
        batch_size: Prompts generated together.
        min_position: First position measured in each text.
        levels: Percentile levels to keep (0-100).
        progress: Show a progress bar on stderr.

    Returns:
        A `Calibration` whose metadata fingerprints the vectors.
    """
    emotions = list(vectors.emotions if emotions is None else emotions)
    site_list = [Site.parse(s) for s in (vectors.sites if sites is None else sites)]
    if prompts is None:
        prompts = [p.text for p in load_eval_prompts(split="calibration")]
    prompts, texts = list(prompts), list(texts)
    if not prompts and not texts:
        raise ValueError("Calibration needs neutral prompts or texts; both are empty.")
    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError("batch_size and max_new_tokens must be positive.")
    vectors.check(backend, allow_mismatch=True)
    monitor = Monitor(vectors, emotions=emotions, sites=site_list, min_position=min_position)
    pile: list[Tensor] = []
    bar = tqdm(
        total=len(prompts) + len(texts),
        desc="calibrating",
        unit="text",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        backend.generate(
            chunk, max_new_tokens=max_new_tokens, observers=[monitor], chat=chat, stop_at_eos=True
        )
        pile.extend(monitor.readings(r, from_position=min_position) for r in range(len(chunk)))
        bar.update(len(chunk))
    for i in range(0, len(texts), batch_size):
        chunk = texts[i : i + batch_size]
        batch = backend.tokenize(chunk)
        captured = backend.capture(batch, site_list, monitor.probes.reducer())
        raw = monitor.probes.readings_from(captured)
        pos = torch.arange(batch.input_ids.shape[1])
        use = batch.mask & (pos[None, :] >= min_position)
        pile.append(raw[use.to(raw.device)].cpu())
        bar.update(len(chunk))
    bar.close()
    meta = {
        "vectors_sha256": vectors_fingerprint(vectors, emotions, site_list),
        "vectors_path": vectors.metadata.get("path"),
        "model_id": backend.model_id,
        "weights_sha256": backend.provenance.weights_sha256,
        "n_prompts": len(prompts),
        "n_texts": len(texts),
        "max_new_tokens": max_new_tokens,
        "chat": chat,
        "min_position": min_position,
    }
    return calibration_from_readings(
        torch.cat(pile).float(), emotions, site_list, levels=levels, metadata=meta
    )
