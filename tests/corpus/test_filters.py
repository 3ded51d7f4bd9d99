import pytest

from emovec.corpus import (
    FilterSettings,
    Screen,
    degenerate,
    fingerprint,
    leak_forms,
    leaked,
    not_dialogue,
    not_english,
    tidy,
    too_short,
)

STORY = (
    "Maria read the letter twice, then folded it along the old creases and set it on the"
    " table. Her hands would not stay still, so she filled the kettle, forgot it, and stood at"
    " the window watching the rain run down the glass. When her brother called, she told him"
    " everything was fine, and hung up before he could ask anything else."
)


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("She was afraid of the dark.", "afraid"),
        ("AFRAID, he ran.", "afraid"),
        ("He felt frightened.", "frightened"),
        ("The noise was frightening.", "frightened"),
        ("It did not frighten her.", "frightened"),
        ("She smiled happily.", "happy"),
        ("Pure happiness.", "happy"),
        ("She was calmer now.", "calm"),
        ("He calmly said no.", "calm"),
        ("They hoped for rain.", "hope"),
        ("I could not stop worrying.", "worried"),
        ("That terrifies me.", "terrified"),
        ("Finally I felt at  ease.", "at ease"),
        ("She was grief stricken.", "grief-stricken"),
        ("Her grief was heavy.", "grief-stricken"),
        ("His self-confidence grew.", "self-confident"),
        ("The lecture was boring.", "bored"),
        ("A wave of gratitude.", "grateful"),
        ("I'm sad.", "sad"),
        ("Such sadness.", "sad"),
    ],
)
def test_leaked_catches_the_word_and_its_inflections(text, emotion):
    assert leaked(text, emotion) == "leaked_emotion_word"


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("He made a cup of tea.", "mad"),  # word boundary: "made" is not "mad"
        ("The nomad walked on.", "mad"),
        ("Please sit down.", "pleased"),  # "please" is politeness, not the lemma that counts
        ("She bore the weight.", "bored"),
        ("Her hands trembled as she opened the door.", "afraid"),
        ("It was a calmative drug", "calm"),
        ("She felt uneasy.", "easy"),
    ],
)
def test_leaked_ignores_other_words(text, emotion):
    assert leaked(text, emotion) is None


def test_leak_forms_include_participle_lemma():
    forms = leak_forms("frightened")
    assert {"frightened", "frighten", "frightens", "frightening", "frightenedly"} <= set(forms)
    assert "fright" not in forms


def test_leaked_takes_extra_synonyms():
    assert leaked("He was livid.", "furious") is None
    assert leaked("He was livid.", "furious", extra=["livid"]) == "leaked_emotion_word"


def test_too_short():
    assert too_short("Only a few words here.", min_words=10) == "too_short"
    assert too_short(STORY, min_words=40) is None


def test_degenerate_repetition():
    looped = "She just smiled, and he just smiled back. " * 8
    assert degenerate(looped) == "degenerate_repetition"
    assert degenerate(STORY) is None


@pytest.mark.parametrize(
    "text",
    [
        "Elle a lu la lettre deux fois, puis elle l'a pliée et posée sur la table de la cuisine.",
        "Она прочитала письмо дважды и положила его на стол.",
        "ctx Secrets worksheet formance ilotterbury Nurscia flashcards unheard inhibits",
        "12345 !!! ???",
    ],
)
def test_not_english_rejects(text):
    assert not_english(text) == "not_english"


def test_not_english_accepts_english():
    assert not_english(STORY) is None


def test_not_dialogue():
    good = "Human: How do I list files?\nAssistant: Use `ls -la`.\nHuman: Hidden ones?\nAssistant: -a shows them."
    assert not_dialogue(good) is None
    assert not_dialogue("**Human:** Why?\n**Assistant:** Because.") is None
    assert not_dialogue("Human: Only one side talks.\nHuman: Again.") == "not_a_dialogue"
    assert not_dialogue(STORY) == "not_a_dialogue"


def test_fingerprint_ignores_case_spacing_punctuation():
    assert fingerprint("Hello,  World!") == fingerprint("hello world")
    assert fingerprint("Hello world") != fingerprint("Hello word")


def test_screen_reports_first_reason_and_duplicates():
    screen = Screen(FilterSettings(min_words=10))
    assert screen(STORY, kind="story", emotion="nervous") is None
    assert screen(STORY.upper(), kind="story", emotion="nervous") == "duplicate"
    assert (
        screen(STORY + " She was nervous.", kind="story", emotion="nervous")
        == "leaked_emotion_word"
    )
    assert screen("Too short.", kind="story", emotion="calm") == "too_short"
    assert screen(STORY, kind="neutral", emotion=None) == "not_a_dialogue"


def test_screen_check_does_not_remember():
    screen = Screen()
    assert screen.check(STORY, kind="story", emotion="calm") is None
    assert screen.check(STORY, kind="story", emotion="calm") is None
    assert not screen.seen


def test_switched_off_filters_pass_gibberish():
    off = FilterSettings(
        min_words=0, max_repeated=1.0, min_english=0.0, min_ascii=0.0, dialogue_min_turns=0
    )
    screen = Screen(off)
    assert screen("x x x x x x x x", kind="neutral", emotion=None) is None


def test_tidy_strips_title_and_unfinished_sentence():
    assert tidy("**The Letter**\n\nShe read it. Then she", "max_new_tokens") == "She read it."
    assert tidy("Title: Rain\n\nIt rained. We", "eos") == "It rained. We"
    assert tidy('He said "go." And', "max_new_tokens") == 'He said "go."'
    assert tidy("No sentence end here at all", "max_new_tokens") == "No sentence end here at all"
