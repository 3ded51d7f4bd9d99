"""Corpus scoring on the tiny model: profiles, flags, filtering, resuming, bad lines."""

import json

import pytest
import torch

from emovec import Site, TokenBatch
from emovec.monitor import Probes, Rule, Then, Threshold
from emovec.ops import scores
from emovec.scoring import parse_line, score_corpus, score_texts
from tests.monitor import EMOTIONS, random_bundle, single_thread

TEXTS = [
    "The committee met on Tuesday to review the budget.",
    "She ran to the window, heart pounding, as the sirens came closer and closer.",
    "Install the package, then run the tests.",
    "A short one.",
    "He laughed and laughed until the whole room was laughing with him, and then it rained.",
    "Numbers: one two three four five six seven eight nine ten eleven twelve.",
    "The cat slept.",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


@pytest.fixture
def backend(tiny_backends):
    return tiny_backends["hf"]


def corpus(tmp_path, texts=TEXTS, extra=()):
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(texts)]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"".join(extra))
    return path


def direct_profile(backend, vectors, text, site, start=1, max_tokens=None):
    """Mean/max/p90 from a forward of the text alone (no padding, no batching, no reducer)."""
    ids = torch.tensor([backend.encode(text)[:max_tokens]])
    acts = backend.capture(TokenBatch(ids, torch.ones_like(ids)), [site])[site][0]
    r = scores(acts, vectors.at(site))
    n = r.shape[0]
    first = min(start, max(n - 8, 1), n - 1)
    r = r[first:].double()
    return {"mean": r.mean(0), "max": r.amax(0), "p90": torch.quantile(r, 0.9, dim=0)}


@pytest.mark.parametrize("sites", [[Site(1)], [Site(0), Site(1), Site(2)]])
def test_profiles_equal_a_direct_computation(backend, sites):
    # 3 sites x 40 emotions > d_model 64: the reducer projects on an orthonormal span basis.
    emotions = tuple(f"e{i}" for i in range(40)) if len(sites) == 3 else EMOTIONS
    vectors = random_bundle(emotions)
    docs = score_texts(backend, vectors, TEXTS, sites=sites, start=3, batch_tokens=40)
    for text, doc in zip(TEXTS, docs, strict=True):
        for site in sites:
            want = direct_profile(backend, vectors, text, site, start=3)
            got = doc["profiles"][str(site)]
            for key in ("mean", "max", "p90"):
                values = torch.tensor([got[key][e] for e in emotions], dtype=torch.float64)
                torch.testing.assert_close(values, want[key], atol=2e-5, rtol=0)
        assert doc["tokens"] == len(backend.encode(text))


@pytest.mark.parametrize("n_emotions, n_sites, width", [(20, 1, 20), (20, 3, 60), (171, 1, 64)])
def test_the_reducer_keeps_at_most_d_model_numbers_per_token(n_emotions, n_sites, width):
    vectors = random_bundle(tuple(f"e{i}" for i in range(n_emotions)))
    probes = Probes(vectors, vectors.emotions, [Site(i) for i in range(n_sites)])
    out = probes.reducer()(torch.randn(2, 5, 64), torch.ones(2, 5, dtype=torch.bool))
    assert out.shape == (2, 5, width)


def test_corpus_outputs_follow_corpus_order_and_flags_agree_with_profiles(backend, tmp_path):
    vectors = random_bundle()
    maxima = [
        d["profiles"]["resid_post.1"]["max"]["afraid"]
        for d in score_texts(backend, vectors, TEXTS, sites=[Site(1)])
    ]
    ranked = sorted(maxima)
    cut = (ranked[len(ranked) // 2] + ranked[len(ranked) // 2 - 1]) / 2  # between two documents
    keep = Rule("afraid-peak", Threshold("afraid", above=cut, scale="raw"))
    summary = score_corpus(
        backend,
        vectors,
        corpus(tmp_path),
        tmp_path / "out",
        sites=[Site(1)],
        filter_rules=[keep],
        window=3,
        batch_tokens=48,
        progress=False,
    )
    rows = [json.loads(x) for x in (tmp_path / "out/profiles.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rows] == list(range(1, len(TEXTS) + 1))
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(len(TEXTS))]
    flagged = [r["profiles"]["resid_post.1"]["max"]["afraid"] > cut for r in rows]
    assert [("afraid-peak" in r["flags"]) for r in rows] == flagged
    kept = (tmp_path / "out/filtered.jsonl").read_text().splitlines()
    original = corpus(tmp_path).read_text().splitlines()
    assert kept == [line for line, f in zip(original, flagged, strict=True) if f]
    assert summary.kept == sum(flagged) == summary.flagged["afraid-peak"]
    assert summary.documents == len(TEXTS) and not (tmp_path / "out/checkpoint.json").exists()
    saved = json.loads((tmp_path / "out/summary.json").read_text())
    assert saved["documents"] == len(TEXTS) and saved["settings"]["window"] == 3


def test_a_peak_then_recovery_rule_selects_documents(backend):
    vectors = random_bundle()
    e = EMOTIONS.index("desperate")
    readings = []
    for text in TEXTS:
        ids = torch.tensor([backend.encode(text)])
        acts = backend.capture(TokenBatch(ids, torch.ones_like(ids)), [Site(2)])[Site(2)][0]
        readings.append(scores(acts, vectors.at(Site(2)))[1:, e].tolist())
    pooled = sorted(v for r in readings for v in r)
    high, low = pooled[int(0.8 * len(pooled))] + 1e-4, pooled[int(0.3 * len(pooled))] - 1e-4
    rule = Rule(
        "peak-then-calm",
        Then(
            Threshold("desperate", above=high, scale="raw"),
            Threshold("desperate", below=low, scale="raw"),
        ),
    )
    docs = score_texts(backend, vectors, TEXTS, sites=[Site(2)], rules=[rule])
    # The reference: a reading above `high`, and a later one below `low`.
    want = [
        any(d[i] > high and any(v < low for v in d[i + 1 :]) for i in range(len(d)))
        for d in readings
    ]
    assert [("peak-then-calm" in doc["flags"]) for doc in docs] == want
    assert any(want) and not all(want)  # the data exercise both outcomes


def test_bad_lines_are_reported_with_their_numbers(backend, tmp_path):
    extra = [
        b"not json at all\n",
        b'{"id": "x", "body": "no text field"}\n',
        b"\n",
        b'{"text": "   "}\n',
        b'{"text": "caf\xff"}\n',
        b"[1, 2]\n",
        json.dumps({"text": "a fine last line"}).encode() + b"\n",
    ]
    reported = []
    source = corpus(tmp_path, TEXTS[:2], extra)
    summary = score_corpus(
        backend,
        random_bundle(),
        source,
        tmp_path / "out",
        sites=[Site(0)],
        progress=False,
        report=reported.append,
    )
    assert [n for n, _ in summary.bad_lines] == [3, 4, 6, 7, 8]
    reasons = dict(summary.bad_lines)
    assert "not valid JSON" in reasons[3] and "no field 'text'" in reasons[4]
    assert "not a non-empty string" in reasons[6] and "not UTF-8" in reasons[7]
    assert "not an object" in reasons[8]
    assert reported == [f"{source}, line {n}: {r}; skipped" for n, r in summary.bad_lines]
    assert summary.blank_lines == 1 and summary.documents == 3
    lines = [
        json.loads(x)["line"] for x in (tmp_path / "out/profiles.jsonl").read_text().splitlines()
    ]
    assert lines == [1, 2, 9]


class Interrupting:
    """A backend whose capture raises after `n` calls (a crash mid-run)."""

    def __init__(self, backend, n):
        self._backend, self._n = backend, n

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def capture(self, *args, **kwargs):
        if self._n == 0:
            raise KeyboardInterrupt
        self._n -= 1
        return self._backend.capture(*args, **kwargs)


def test_scoring_resumes_after_an_interruption_with_identical_output(backend, tmp_path):
    vectors = random_bundle()
    texts = TEXTS * 3
    path = corpus(tmp_path, texts, [b"{broken\n", json.dumps({"text": "tail"}).encode() + b"\n"])
    settings = dict(
        sites=[Site(1), Site(2)],
        rules=[Rule("hot", Threshold("angry", above=0.2, scale="raw"))],
        filter_rules=[Rule("keep", Threshold("calm", above=0.3, scale="raw"))],
        window=4,
        batch_tokens=64,
        progress=False,
        report=lambda m: None,
    )
    full = score_corpus(backend, vectors, path, tmp_path / "a", **settings)
    with pytest.raises(KeyboardInterrupt):
        score_corpus(Interrupting(backend, 5), vectors, path, tmp_path / "b", **settings)
    ckpt = json.loads((tmp_path / "b/checkpoint.json").read_text())
    assert 0 < ckpt["lines_done"] < len(texts) and ckpt["lines_done"] % 4 == 0
    assert not (tmp_path / "b/profiles.jsonl").exists()  # only the .partial so far
    # A crash mid-write leaves half a line after the checkpoint: resuming must drop it.
    with open(tmp_path / "b/profiles.jsonl.partial", "ab") as handle:
        handle.write(b'{"line": 99, "half')
    resumed = score_corpus(backend, vectors, path, tmp_path / "b", **settings)
    assert resumed.resumed_from_line == ckpt["lines_done"]
    for name in ("profiles.jsonl", "filtered.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for key in ("documents", "tokens", "bad_lines", "flagged", "kept", "lines"):
        assert getattr(resumed, key) == getattr(full, key)
    assert [n for n, _ in resumed.bad_lines] == [len(texts) + 1]


def test_resume_refuses_changed_settings_or_corpus_and_finished_outputs(backend, tmp_path):
    vectors = random_bundle()
    path = corpus(tmp_path, TEXTS * 2)
    with pytest.raises(KeyboardInterrupt):
        score_corpus(
            Interrupting(backend, 3),
            vectors,
            path,
            tmp_path / "o",
            window=3,
            sites=[Site(1)],
            progress=False,
        )
    with pytest.raises(ValueError, match="other settings.*window"):
        score_corpus(
            backend, vectors, path, tmp_path / "o", window=5, sites=[Site(1)], progress=False
        )
    path.write_text(path.read_text().replace("committee", "board"))
    with pytest.raises(ValueError, match="changed since the checkpoint"):
        score_corpus(
            backend, vectors, path, tmp_path / "o", window=3, sites=[Site(1)], progress=False
        )
    score_corpus(
        backend,
        vectors,
        path,
        tmp_path / "o",
        window=3,
        sites=[Site(1)],
        progress=False,
        resume=False,
    )
    with pytest.raises(ValueError, match="already exists from a finished run"):
        score_corpus(backend, vectors, path, tmp_path / "o", sites=[Site(1)], progress=False)
    score_corpus(
        backend, vectors, path, tmp_path / "o", sites=[Site(1)], progress=False, overwrite=True
    )


def test_plain_text_corpora_score_one_document_per_line(backend, tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("first document here\n\nsecond one\n")
    summary = score_corpus(
        backend, random_bundle(), path, tmp_path / "o", sites=[Site(0)], progress=False
    )
    rows = [json.loads(x) for x in (tmp_path / "o/profiles.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 3] and summary.blank_lines == 1


def test_bad_settings_fail_before_any_forward(backend, tmp_path):
    vectors = random_bundle()
    path = corpus(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        score_corpus(backend, vectors, tmp_path / "nope.jsonl", tmp_path / "o")
    with pytest.raises(ValueError, match="no calibration"):
        score_corpus(
            backend, vectors, path, tmp_path / "o", rules=[Rule("r", Threshold("calm", above=2.0))]
        )
    with pytest.raises(ValueError, match="Percentiles must lie in"):
        score_corpus(backend, vectors, path, tmp_path / "o", percentiles=[150.0])
    with pytest.raises(ValueError, match="outside the model"):
        score_corpus(backend, vectors, path, tmp_path / "o", sites=[Site(9)])
    assert not (tmp_path / "o" / "profiles.jsonl").exists()


def test_parse_line_examples():
    assert parse_line(1, b'{"text": "hi", "id": 7}\n', json_lines=True).id == 7
    assert parse_line(2, b"plain words\r\n", json_lines=False).text == "plain words"
    assert parse_line(3, b"  \n", json_lines=True).blank
