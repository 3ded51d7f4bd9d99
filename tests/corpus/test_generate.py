import json

import pytest

import emovec
from emovec.catalogue import default_neutral_topics, default_topics
from emovec.corpus import (
    FilterSettings,
    GenerationSettings,
    Plan,
    Shard,
    finalize,
    generate_corpus,
    load_corpus,
)
from emovec.corpus._generate import RAW_DIR, _batches, load_attempts, tidy_answer
from tests.conftest import tiny_llama

# A tiny random model writes gibberish: switch off the filters that judge language.
OPEN = FilterSettings(
    min_words=0, max_repeated=1.0, min_english=0.0, min_ascii=0.0, dialogue_min_turns=0
)
FAST = GenerationSettings(max_new_tokens=3, answer_max_new_tokens=2, batch_size=3)


def plan(**kw) -> Plan:
    base = dict(
        emotions=("calm", "afraid"),
        topics=default_topics()[:2],
        neutral_topics=default_neutral_topics()[:2],
        stories_per_topic=1,
        neutral=2,
    )
    return Plan(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return emovec.attach(tiny_llama(), tokenizer=tokenizer)


class Interrupt(Exception):
    pass


class Flaky:
    """A backend that fails on its `fail_on`-th generate call (to simulate a crash)."""

    def __init__(self, backend, fail_on: int):
        self.backend, self.fail_on, self.calls = backend, fail_on, 0

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def generate(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on:
            raise Interrupt
        return self.backend.generate(*args, **kwargs)


def raw_lines(folder) -> list[str]:
    return sorted((folder / RAW_DIR / "shard-00000-of-00001.jsonl").read_text().splitlines())


def test_a_small_run_makes_a_loadable_corpus(tiny, tmp_path):
    report = generate_corpus(tiny, plan(), tmp_path, settings=FAST, filters=OPEN, progress=False)
    assert report.generated == 6 and report.skipped == 0
    manifest = finalize(tmp_path)
    corpus = load_corpus(tmp_path)
    assert len(corpus.stories) == 4 and len(corpus.neutral) == 2
    assert corpus.content_hash == manifest["content_hash"]
    assert manifest["counts"]["per_emotion"] == {"calm": 2, "afraid": 2}
    gen = manifest["generation"]
    assert gen["model_id"] == "tiny-random-llama" and gen["batch_size"] == 3
    assert gen["max_new_tokens"] == 3 and gen["temperature"] == 0.8
    story = corpus.by_emotion()["calm"][0]
    assert story.generator == "tiny-random-llama" and story.meta["person"] in ("first", "third")
    dialogue = corpus.neutral[0].text.splitlines()
    assert dialogue[0].startswith("Human: ") and dialogue[1].startswith("Assistant: ")


def test_resume_after_interruption_gives_the_same_corpus(tiny, tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    kw = dict(settings=FAST, filters=OPEN, progress=False)
    generate_corpus(tiny, plan(), whole, **kw)
    with pytest.raises(Interrupt):
        generate_corpus(Flaky(tiny, fail_on=2), plan(), broken, **kw)
    first = len(_batches(plan().base_jobs(), FAST.batch_size)[0])
    assert len(raw_lines(broken)) == first  # the first batch survived
    report = generate_corpus(tiny, plan(), broken, **kw)
    assert report.skipped == first and report.generated == 6 - first
    assert raw_lines(broken) == raw_lines(whole)
    assert finalize(broken)["content_hash"] == finalize(whole)["content_hash"]


def test_a_torn_write_is_dropped_and_redone(tiny, tmp_path):
    whole, torn = tmp_path / "whole", tmp_path / "torn"
    kw = dict(settings=FAST, filters=OPEN, progress=False)
    stories = plan(neutral=0)  # batches of 3 and 1 stories
    generate_corpus(tiny, stories, whole, **kw)
    generate_corpus(tiny, stories, torn, **kw)
    path = torn / RAW_DIR / "shard-00000-of-00001.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    # a crash in the middle of the first batch's write: one full line and half of the next
    path.write_text(lines[0] + lines[1][:20])
    report = generate_corpus(tiny, stories, torn, **kw)
    assert report.generated == 4 and report.skipped == 0
    assert raw_lines(torn) == raw_lines(whole)


def test_finished_run_is_skipped_entirely(tiny, tmp_path):
    kw = dict(settings=FAST, filters=OPEN, progress=False)
    generate_corpus(tiny, plan(), tmp_path, **kw)
    again = generate_corpus(Flaky(tiny, fail_on=1), plan(), tmp_path, **kw)
    assert again.generated == 0 and again.skipped == 6


def test_shards_split_the_work_and_merge(tiny, tmp_path):
    kw = dict(settings=FAST, filters=OPEN, progress=False)
    for i in range(2):
        generate_corpus(tiny, plan(), tmp_path, shard=Shard(i, 2), **kw)
    raw = tmp_path / RAW_DIR
    first = {
        json.loads(x)["id"] for x in (raw / "shard-00000-of-00002.jsonl").read_text().splitlines()
    }
    second = {
        json.loads(x)["id"] for x in (raw / "shard-00001-of-00002.jsonl").read_text().splitlines()
    }
    assert not first & second
    assert first | second == {j.key for j in plan().base_jobs()}
    manifest = finalize(tmp_path)
    assert manifest["generation"]["shards"] == 2
    assert len(load_corpus(tmp_path)) == 6


def test_resume_with_other_settings_is_refused(tiny, tmp_path):
    generate_corpus(tiny, plan(), tmp_path, settings=FAST, filters=OPEN, progress=False)
    other = GenerationSettings(max_new_tokens=4, answer_max_new_tokens=2, batch_size=3)
    with pytest.raises(ValueError, match=r"settings.max_new_tokens differ.*new --out"):
        generate_corpus(tiny, plan(), tmp_path, settings=other, filters=OPEN, progress=False)


class Scripted:
    """A fake backend: every story names its emotion unless the prompt's topic is 'clean'."""

    model_id, name = "scripted", "fake"

    def __init__(self, tokenizer, leak_every: int = 2):
        self.tokenizer, self.leak_every, self.calls = tokenizer, leak_every, 0

    def generate(self, batch, *, max_new_tokens, temperature, top_p, seed):
        rows = len(batch)
        texts = []
        for _ in range(rows):
            self.calls += 1
            leak = self.calls % self.leak_every == 0
            body = f"The story number {self.calls} of a person at the window with the letter"
            texts.append(body + (" and she was calm and afraid." if leak else "."))
        return emovec.Generation([[1]] * rows, [[5, 6]] * rows, texts, ["eos"] * rows)


def test_top_up_reaches_the_minimum_and_counts_rejections(tokenizer, tmp_path):
    fake = Scripted(tokenizer, leak_every=2)
    p = plan(min_accepted=3, neutral=0, max_attempts=20)
    settings = GenerationSettings(max_new_tokens=3, batch_size=4)
    report = generate_corpus(fake, p, tmp_path, settings=settings, filters=OPEN, progress=False)
    assert report.accepted["calm"] >= 3 and report.accepted["afraid"] >= 3
    manifest = finalize(tmp_path)
    story = manifest["counts"]["rejections"]["story"]
    assert story["by_reason"]["leaked_emotion_word"]["count"] == story["rejected"] > 0
    assert story["attempts"] > 4  # more than the base plan of 2 emotions x 2 topics
    attempts = load_attempts(tmp_path / RAW_DIR / "shard-00000-of-00001.jsonl")
    assert max(r.meta["round"] for r in attempts) >= 1


def test_top_up_stops_at_max_attempts(tokenizer, tmp_path):
    fake = Scripted(tokenizer, leak_every=1)  # every story leaks: nothing is ever accepted
    p = plan(min_accepted=3, neutral=0, max_attempts=5)
    settings = GenerationSettings(max_new_tokens=3, batch_size=4)
    generate_corpus(fake, p, tmp_path, settings=settings, filters=OPEN, progress=False)
    manifest = finalize(tmp_path)
    assert manifest["counts"]["per_emotion"] == {"calm": 0, "afraid": 0}
    assert manifest["counts"]["rejections"]["story"]["attempts"] == 10


def test_refilter_rejudges_every_attempt(tokenizer, tmp_path):
    fake = Scripted(tokenizer, leak_every=100)
    generate_corpus(fake, plan(neutral=0), tmp_path, settings=FAST, filters=OPEN, progress=False)
    assert finalize(tmp_path)["counts"]["stories"] == 4
    strict = finalize(tmp_path, tmp_path / "strict", filters=FilterSettings(min_words=50))
    assert strict["counts"]["stories"] == 0
    assert strict["counts"]["rejections"]["story"]["by_reason"]["too_short"]["count"] == 4
    assert load_corpus(tmp_path / "strict").stories == ()


def test_batches_keep_kinds_apart_and_never_split_a_job():
    jobs = plan(neutral=3).base_jobs()
    batches = _batches(jobs, 5)
    assert [j for b in batches for j in b] == jobs
    for batch in batches:
        assert len({j.kind for j in batch}) == 1
        assert sum(len(j.prompts) for j in batch) <= 5 or len(batch) == 1


def test_tidy_answer_drops_pleasantries():
    assert tidy_answer("Sure! Certainly. Use git status.", "eos") == "Use git status."
    assert tidy_answer("Use git\nstatus.", "eos") == "Use git status."


class Banning:
    """Passes through to a backend, keeping each generate call's prompts and `ban`."""

    def __init__(self, backend):
        self.backend, self.calls = backend, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def generate(self, batch, **kwargs):
        self.calls.append((batch.input_ids.shape[0], kwargs.get("ban")))  # absent: no ban
        return self.backend.generate(batch, **kwargs)


@pytest.mark.parametrize("ban", [True, False])
def test_stories_ban_every_spelling_of_their_emotion_and_dialogues_nothing(tiny, tmp_path, ban):
    from dataclasses import replace

    from emovec.corpus._filters import spellings

    spy = Banning(tiny)
    settings = replace(FAST, ban_emotion_word=ban)
    generate_corpus(spy, plan(), tmp_path, settings=settings, filters=OPEN, progress=False)
    tok = tiny.tokenizer
    stories = [b for _, b in spy.calls if b is not None]
    if not ban:
        assert stories == []
        assert "ban_emotion_word" not in json.loads((tmp_path / "run.json").read_text())["settings"]
        return
    rows = [row for b in stories for row in b]
    assert len(rows) == 4  # two emotions x two topics, one story each; dialogues have no ban
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["settings"]["ban_emotion_word"] is True  # recorded when on, absent when off
    for emotion in ("calm", "afraid"):
        expected = {
            tuple(tok(s, add_special_tokens=False)["input_ids"]) for s in spellings(emotion)
        }
        assert sum({tuple(q) for q in row} == expected for row in rows) == 2
    assert sum(b is None for _, b in spy.calls) >= 1
