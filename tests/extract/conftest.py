"""The tiny random Llama of tests/conftest.py behind the HF adapter, and a toy corpus."""

import random

import pytest

import emovec
from tests.conftest import tiny_llama

EMOTIONS = ("calm", "afraid", "happy", "angry")
TOPICS = ("rent", "wallet", "exam")
WORDS = (
    "the a she he walked door letter morning kitchen window slowly quickly said looked table"
    " street money phone friend office paper coffee road train evening rain light voice hand"
).split()
CUES = {
    "calm": "breathed slowly quiet steady tea smiled softly".split(),
    "afraid": "trembled dark shaking heart pounding froze whispered".split(),
    "happy": "laughed bright sunny danced cheered grinned sang".split(),
    "angry": "slammed shouted red clenched stormed glared yelled".split(),
}


def story_text(rng: random.Random, emotion: str, n_words: int) -> str:
    words = [rng.choice(CUES[emotion] if rng.random() < 0.3 else WORDS) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def toy_stories(per_cell: int = 2, seed: int = 0, lo: int = 8, hi: int = 40) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "id": f"{emotion}-{topic}-{k}",
            "emotion": emotion,
            "topic": topic,
            "text": story_text(rng, emotion, rng.randint(lo, hi)),
        }
        for emotion in EMOTIONS
        for topic in TOPICS
        for k in range(per_cell)
    ]


def toy_neutral(n: int = 8, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [
        "Human: "
        + " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20)))
        + "?\n\nAssistant: "
        + " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 30)))
        for _ in range(n)
    ]


@pytest.fixture(scope="session")
def backend(tokenizer):
    return emovec.attach(tiny_llama(), tokenizer=tokenizer)


@pytest.fixture
def stories():
    return toy_stories()


@pytest.fixture
def neutral():
    return toy_neutral()
