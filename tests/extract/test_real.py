"""Extraction on the real embedded model (SmolLM2-135M-Instruct): a small hand-written slice."""

import pytest
import torch

import emovec
from emovec.extract import extract_vectors
from emovec.vectors import EmotionVectors, ModelMismatchError

pytestmark = pytest.mark.real

STORIES = {
    "afraid": [
        "The stairwell light clicked off behind Maya, and the footsteps below her stopped when"
        " she stopped. She pressed her back to the cold wall, keys digging into her palm, and"
        " tried not to breathe. Somewhere beneath her a door creaked open, slowly, and her heart"
        " hammered so loudly she was sure whoever was there could hear it.",
        "I read the letter from the clinic three times. My hands would not stop shaking, and the"
        " words about further tests kept sliding around the page. I checked the locks twice,"
        " sat on the kitchen floor, and stared at the phone, waiting for it to ring and dreading"
        " that it would.",
    ],
    "happy": [
        "When the acceptance email arrived, Tom read it out loud twice and then ran down the"
        " hall to find his sister. They jumped around the kitchen like children, laughing,"
        " knocking over a chair, and he called his grandmother with a grin so wide it hurt. The"
        " whole evening felt golden and light.",
        "The puppy tumbled out of the crate and straight into my lap, licking my chin. I could"
        " not stop laughing. We spent the afternoon in the park, sun on our faces, and every"
        " time she chased a leaf and rolled over in the grass I felt like singing.",
    ],
    "angry": [
        "The landlord smiled as he kept the whole deposit for a scratch that was there when"
        " they moved in. Rosa's jaw clenched. She slammed the folder on the counter, her voice"
        " rising, and told him exactly what she thought of his lies while her face burned red.",
        "For the third time that week my coworker presented my analysis as his own. I gripped"
        " the edge of the desk until my knuckles went white, marched into the manager's office,"
        " and shut the door hard enough to rattle the glass.",
    ],
}

NEUTRAL = [
    "Human: How do I reverse a list in Python?\n\nAssistant: Use slicing: my_list[::-1] returns"
    " a reversed copy, and my_list.reverse() reverses the list in place.\n\nHuman: Which one is"
    " faster?\n\nAssistant: Both are linear time; reverse() avoids allocating a new list.",
    "Human: What is the boiling point of water at sea level?\n\nAssistant: 100 degrees Celsius,"
    " or 212 degrees Fahrenheit, at standard atmospheric pressure.\n\nHuman: And on a high"
    " mountain?\n\nAssistant: Lower, because the air pressure is lower; at 3000 metres it is"
    " about 90 degrees Celsius.",
    "Human: Summarise the meeting notes: budget approved, hiring paused, launch moved to May."
    "\n\nAssistant: The budget was approved, hiring is on hold, and the launch date is now May."
    "\n\nHuman: Format it as a list.\n\nAssistant: - Budget approved\n- Hiring paused\n- Launch"
    " moved to May",
]


@pytest.fixture(scope="module")
def real_backend():
    return emovec.load_backend()


def test_real_model_bundle_loads_and_checks(real_backend, tmp_path):
    records = [
        {"id": f"{e}-{i}", "emotion": e, "text": t}
        for e, texts in STORIES.items()
        for i, t in enumerate(texts)
    ]
    ev = extract_vectors(real_backend, records, NEUTRAL, progress=False)
    assert ev.vectors.shape == (3, real_backend.n_layers, real_backend.d_model)
    torch.testing.assert_close(ev.vectors.norm(dim=-1), torch.ones(3, real_backend.n_layers))
    meta = ev.metadata
    assert meta["model"]["weights_sha256"] == real_backend.provenance.weights_sha256
    assert meta["model"]["model_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert all(n > 0 for n in meta["residual_norms"].values())
    path = ev.save(tmp_path / "real.safetensors")
    back = EmotionVectors.load(path).check(real_backend)
    torch.testing.assert_close(back.vectors, ev.vectors, atol=0, rtol=0)
    shallow = back.select(sites=back.sites[:12])  # a bundle that says it came from 12 layers
    with pytest.raises(ModelMismatchError, match="12 layers vs 30"):
        EmotionVectors(
            shallow.vectors, shallow.emotions, shallow.sites, {**shallow.metadata, "n_layers": 12}
        ).check(real_backend)


def test_the_shipped_corpus_extracts_on_the_real_model(real_backend):
    """The integration path: shipped corpus -> extraction -> a bundle that names its corpus.

    A slice (two stories of each of 40 emotions, 20 neutral dialogues, two sites) keeps this to
    seconds; `emovec replicate` runs the whole corpus at every site.
    """
    from emovec.corpus import load_corpus

    corpus = load_corpus()
    grouped = corpus.by_emotion()
    emotions = list(grouped)[:40]
    stories = [r for e in emotions for r in grouped[e][:2]]
    ev = extract_vectors(
        real_backend,
        stories,
        corpus.neutral[:20],
        sites=[10, 20],
        corpus_info={"content_hash": corpus.manifest["content_hash"]},
        progress=False,
    )
    assert ev.emotions == tuple(emotions) and ev.vectors.shape == (40, 2, real_backend.d_model)
    assert torch.isfinite(ev.vectors).all()
    assert torch.allclose(ev.vectors.norm(dim=-1), torch.ones(40, 2), atol=1e-5)
    assert ev.metadata["corpus"]["content_hash"] == corpus.manifest["content_hash"]
    assert ev.metadata["corpus"]["n_stories"] == 80 and ev.metadata["corpus"]["n_neutral"] == 20
    # Distinct emotions get distinct directions: no two vectors at a site coincide.
    cos = ev.vectors[:, 1] @ ev.vectors[:, 1].T
    assert float((cos - torch.eye(40)).abs().max()) < 0.99


def test_shipped_corpus_slice_names_emotions_on_unseen_topics(real_backend):
    """The recipe on the real model over a slice of the hand-written corpus: 16 emotions spread
    over the list, all 12 topics; vectors from 9 topics must name the emotion of stories on the
    other 3 well above chance (the whole corpus gives about 60x chance at the best site)."""
    from emovec.analysis import heldout_identification
    from emovec.corpus import load_corpus

    corpus = load_corpus()
    grouped = corpus.by_emotion()
    emotions = list(grouped)[::11][:16]
    stories = [r for e in emotions for r in grouped[e]]
    from emovec.extract import TruncationWarning

    with pytest.warns(TruncationWarning, match="cut to it"):  # 160 tokens, as the main job
        result = heldout_identification(
            real_backend, stories, corpus.neutral[:24], sites=[14, 20], templates=None,
            lexical=False, max_tokens=160, progress=False,
        )  # fmt: skip
    assert result.n_emotions == 16 and result.n_test == 48
    assert result.best.story_top1 >= 4 * result.chance, result.table()
    assert result.reliability is not None and result.reliability.best.structure_r > 0.3


def test_shipped_speaker_dialogues_name_the_speakers_own_emotion(real_backend):
    """Present-speaker vectors from the hand-written dialogues on the real model: a speaker's
    own emotion is named from their tokens in unseen dialogues well above chance (24-way)."""
    from emovec.analysis import speaker_report
    from emovec.corpus import load_dialogues
    from emovec.extract import speaker_vectors

    sv = speaker_vectors(real_backend, load_dialogues("speaker"), None, sites=[15], progress=False)
    assert len(sv.present.emotions) == 24 and sv.present.metadata["kind"] == "present-speaker"
    report = speaker_report(sv)
    assert report.rows[0].heldout_present >= 5 * report.chance, report.table()


def test_a_100k_character_story_is_cut_warned_and_recorded(real_backend):
    """One story far past the model's context (about 23k tokens; the context is 8,192) once
    OOM-killed extraction at 24 GB. It must now run within memory bounded by the token limit,
    warn once, and record the cut in the bundle."""
    import resource

    from emovec.extract import DEFAULT_MAX_TOKENS, TruncationWarning

    paragraph = STORIES["afraid"][0] + " " + STORIES["afraid"][1] + " "
    huge = (paragraph * (100_000 // len(paragraph) + 1))[:100_000]
    n_tokens = len(real_backend.encode(huge))
    assert n_tokens > 8192
    records = [{"id": "huge", "emotion": "afraid", "text": huge}] + [
        {"id": f"{e}-{i}", "emotion": e, "text": t}
        for e, texts in STORIES.items()
        for i, t in enumerate(texts)
    ]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.warns(
        TruncationWarning, match=f"1 text\\(s\\) were longer than {DEFAULT_MAX_TOKENS}"
    ):
        ev = extract_vectors(
            real_backend, records, None, sites=[10, 20], neutral_variance=0.0, progress=False
        )
    grown_gb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
    assert ev.metadata["corpus"]["truncation"] == {
        "limit": DEFAULT_MAX_TOKENS,
        "texts_cut": 1,
        "tokens_cut": n_tokens - DEFAULT_MAX_TOKENS,
        "longest": n_tokens,
    }
    assert ev.metadata["corpus"]["n_stories"] == 7
    assert grown_gb < 6, f"peak memory grew by {grown_gb:.1f} GB"
