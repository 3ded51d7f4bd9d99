import json
import statistics

import pytest

from emovec.catalogue import Catalogue
from emovec.corpus import Record, load_corpus
from emovec.corpus._records import build_manifest, write_json, write_jsonl


def story(i: int, emotion: str) -> Record:
    text = f"Story {i}: she put the kettle on and watched the rain."
    return Record(f"story/{emotion}/t{i:03d}/s0", "story", emotion, "rain", text, "m", 1)


def neutral(i: int) -> Record:
    return Record(
        f"neutral/n{i:03d}/s0", "neutral", None, "git", f"Human: q{i}\nAssistant: a", "m", 1
    )


@pytest.fixture
def folder(tmp_path):
    stories = [story(i, e) for e in ("calm", "sad") for i in range(3)]
    neutrals = [neutral(i) for i in range(2)]
    write_jsonl(tmp_path / "stories.jsonl", stories)
    write_jsonl(tmp_path / "neutral.jsonl", neutrals)
    manifest = build_manifest(
        stories + neutrals, generation={}, filters={}, prompt_version="v", files={}
    )
    manifest["counts"]["per_emotion"] = {"sad": 3, "calm": 3}
    write_json(tmp_path / "manifest.json", manifest)
    return tmp_path


def test_load_groups_by_emotion_in_manifest_order(folder):
    corpus = load_corpus(folder)
    assert len(corpus) == 8 and len(corpus.neutral) == 2
    assert corpus.emotions == ("sad", "calm")
    groups = corpus.by_emotion()
    assert list(groups) == ["sad", "calm"] and all(len(v) == 3 for v in groups.values())
    assert len(corpus.texts("calm")) == 3
    assert [r.kind for r in corpus][-2:] == ["neutral", "neutral"]
    with pytest.raises(KeyError, match="no stories for 'happy'"):
        corpus.texts("happy")


def test_bad_lines_are_reported_with_file_and_line(folder):
    path = folder / "stories.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = "{broken"
    lines[4] = json.dumps({"id": "x", "kind": "story"})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        load_corpus(folder)
    message = str(err.value)
    assert f"{folder}/stories.jsonl, line 2: not valid JSON" in message
    assert f"{folder}/stories.jsonl, line 5: missing field(s)" in message


def test_edited_records_fail_the_hash_check(folder):
    path = folder / "stories.jsonl"
    path.write_text(path.read_text().replace("kettle", "teapot", 1))
    with pytest.raises(ValueError, match="content hash"):
        load_corpus(folder)
    assert len(load_corpus(folder, verify=False).stories) == 6


def test_records_in_the_wrong_file_are_refused(folder):
    write_jsonl(folder / "neutral.jsonl", [story(9, "calm")])
    with pytest.raises(ValueError, match="not accepted neutral texts"):
        load_corpus(folder, verify=False)


def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        load_corpus(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no stories.jsonl"):
        load_corpus(tmp_path)


def test_the_shipped_corpus_covers_every_emotion_on_the_same_topics():
    corpus = load_corpus()
    groups = corpus.by_emotion()
    assert set(corpus.emotions) == set(Catalogue.default())
    topics = {e: [r.topic for r in records] for e, records in groups.items()}
    first = sorted(next(iter(topics.values())))
    assert len(first) >= 12 and len(set(first)) == len(first)
    # Fully crossed: every emotion told once on each of the same topics.
    assert all(sorted(t) == first for t in topics.values())
    from emovec.catalogue import default_topics

    shipped_topics = set(default_topics())
    assert set(first) <= shipped_topics
    assert len(corpus.stories) >= 2052 and len(corpus.neutral) >= 240
    gen = corpus.manifest["generation"]
    assert gen["authorship"] == "hand-written" and gen["model_id"] is None
    assert all(r.generator == "hand-written" for r in corpus)
    assert all(r.text.startswith("Human: ") for r in corpus.neutral)
    assert corpus.manifest["content_hash"] == corpus.content_hash


def test_shipped_stories_keep_the_brief():
    from emovec.corpus import FilterSettings, Screen, leaked
    from emovec.corpus._filters import words

    corpus = load_corpus()
    screen = Screen(FilterSettings(min_words=40))
    for record in corpus:
        reason = screen(record.text, kind=record.kind, emotion=record.emotion)
        assert reason is None, (record.id, reason)
    for emotion, records in corpus.by_emotion().items():
        persons = statistics.multimode(r.meta["person"] for r in records)
        assert len(persons) == 2, f"{emotion}: first and third person not balanced"
        for r in records:
            assert leaked(r.text, emotion) is None, r.id
            assert 70 <= len(words(r.text)) <= 130, r.id
    openings = [" ".join(words(r.text)[:4]) for r in corpus.stories]
    assert len(set(openings)) == len(openings), "two stories open alike"


def test_subsample_picks_evenly_and_records_itself():
    corpus = load_corpus()
    sub = corpus.subsample(5, 64)
    groups, full = sub.by_emotion(), corpus.by_emotion()
    assert set(groups) == set(full)
    for emotion, records in groups.items():
        assert len(records) == min(5, len(full[emotion]))
        assert len({r.id for r in records}) == len(records)
        positions = [full[emotion].index(r) for r in records]
        assert positions == sorted(positions) and positions[0] == 0
    assert list(sub.neutral) == list(corpus.neutral[:64])
    assert sub.manifest["content_hash"] == sub.content_hash != corpus.content_hash
    assert sub.manifest["counts"]["stories"] == len(sub.stories) == 5 * len(full)
    assert sub.manifest["subsample"]["of_content_hash"] == corpus.manifest["content_hash"]
    assert corpus.subsample(5, 64).content_hash == sub.content_hash  # same call, same records
    assert corpus.subsample(100).content_hash == corpus.content_hash  # nothing left out


@pytest.mark.parametrize("args", [(0, None), (3, -1)])
def test_subsample_refuses_empty_requests(folder, args):
    with pytest.raises(ValueError, match="stories_per_emotion >= 1"):
        load_corpus(folder).subsample(*args)
