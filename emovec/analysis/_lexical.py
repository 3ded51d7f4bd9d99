"""The words-alone baseline of held-out identification: how much emotion the texts carry.

A probe can only find what the stories hold. A bag-of-words classifier (tf-idf of words,
complement naive Bayes: few stories per emotion suit it better than a logistic regression,
which misses even a planted emotion word there) is trained on the same training topics and scored
on the same held-out stories: near chance, the corpus itself does not tell its emotions apart
(the generator ignored the emotion), and no set of vectors should be expected to; far above
the probes, the model's representations (or the recipe) are what falls short.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emovec.extract import field_of

from ._accuracy import topk_accuracy


@dataclass(frozen=True)
class LexicalIdentification:
    """Top-1 and top-5 accuracy of the words-alone classifier on the held-out stories."""

    top1: float
    top5: float
    n_features: int


def lexical_identification(
    train: Sequence[Any], held: Sequence[Any], emotions: Sequence[str]
) -> LexicalIdentification:
    """Train on `train`'s words, score `held` (records with `text` and `emotion`).

    Example:
        >>> tr = [{"text": t, "emotion": e} for t, e in [("sun joy", "a"), ("rain tears", "b")] * 3]
        >>> lexical_identification(tr, [{"text": "joy", "emotion": "a"}], ["a", "b"]).top1
        1.0
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import ComplementNB

    index = {e: i for i, e in enumerate(emotions)}
    y_train = [index[str(field_of(r, "emotion"))] for r in train]
    if len(set(y_train)) < 2:
        raise ValueError("The words-alone baseline needs training stories of at least 2 emotions.")
    words = TfidfVectorizer(sublinear_tf=True, min_df=2)
    x_train = words.fit_transform([str(field_of(r, "text")) for r in train])
    model = ComplementNB().fit(x_train, y_train)
    proba = model.predict_proba(words.transform([str(field_of(r, "text")) for r in held]))
    full = np.full((len(held), len(emotions)), -np.inf)  # emotions absent from training: never
    full[:, model.classes_] = proba
    labels = torch.tensor([index[str(field_of(r, "emotion"))] for r in held])
    scores = torch.from_numpy(full)
    return LexicalIdentification(
        topk_accuracy(scores, labels, 1), topk_accuracy(scores, labels, 5), len(words.vocabulary_)
    )
