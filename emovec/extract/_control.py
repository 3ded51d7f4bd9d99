"""The template control: vectors from sentences that merely name the emotion.

Run through exactly the same capture and recipe as the stories, they show how much of what the
story vectors capture is the emotion *word* rather than the situation: a reader of the
validation report compares the two on held-out stories.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from emovec._backend import Backend
from emovec.vectors import EmotionVectors

from ._recipe import extract_vectors

TEMPLATES: tuple[str, ...] = (
    "She felt {emotion}.",
    "He felt {emotion}.",
    "I feel {emotion}.",
    "They were {emotion}.",
    "The feeling was {emotion}.",
    "Right now I am {emotion}.",
)


def template_records(
    emotions: Sequence[str], templates: Sequence[str] = TEMPLATES
) -> list[dict[str, str]]:
    """One record per emotion and template, in the story-record format.

    Example:
        >>> template_records(["calm"], ["I feel {emotion}."])
        [{'id': 'template-calm-0', 'emotion': 'calm', 'text': 'I feel calm.'}]
    """
    if not templates or any("{emotion}" not in t for t in templates):
        raise ValueError("Every template must contain '{emotion}'.")
    return [
        {"id": f"template-{emotion}-{i}", "emotion": emotion, "text": t.format(emotion=emotion)}
        for emotion in emotions
        for i, t in enumerate(templates)
    ]


def template_vectors(
    backend: Backend,
    emotions: Sequence[str],
    neutral: Iterable[Any] | None = None,
    *,
    templates: Sequence[str] = TEMPLATES,
    **recipe: Any,
) -> EmotionVectors:
    """Control vectors: `extract_vectors` on `template_records(emotions, templates)`.

    Templates are a few tokens long, so the start token clips to 1 (see `Recipe.start`): the
    mean runs over every token but the first. Other keyword arguments go to `extract_vectors`
    (use the same sites, neutral texts and settings as the story run being compared).
    """
    bundle = extract_vectors(
        backend, template_records(emotions, templates), neutral, emotions=list(emotions), **recipe
    )
    meta = dict(bundle.metadata)
    meta["control"] = {"kind": "templates", "templates": list(templates)}
    return EmotionVectors(bundle.vectors, bundle.emotions, bundle.sites, meta)
