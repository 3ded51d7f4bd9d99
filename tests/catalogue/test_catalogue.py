import csv
from pathlib import Path

import pytest

from emovec.catalogue import (
    Catalogue,
    default_neutral_topics,
    default_topics,
    load_norms,
    load_topics,
)

DATA = Path(__file__).resolve().parents[2] / "emovec" / "data"


def test_default_catalogue_is_the_papers_171_words_in_order():
    cat = Catalogue.default()
    assert len(cat) == 171
    assert cat.emotions[0] == "afraid" and cat.emotions[-1] == "worthless"
    assert {"at ease", "grief-stricken", "worn out", "on edge"} <= set(cat)
    assert cat.index("calm") == cat.emotions.index("calm")


def test_catalogue_from_words_and_file(tmp_path):
    path = tmp_path / "emotions.txt"
    path.write_text("# my list\ncalm\n\n desperate \n")
    cat = Catalogue.from_file(path)
    assert cat.emotions == ("calm", "desperate")
    assert cat.source == str(path)
    assert Catalogue.load(["calm", "happy"]).emotions == ("calm", "happy")
    assert Catalogue.load("default") == Catalogue.default()


def test_catalogue_rejects_duplicates_with_line_numbers(tmp_path):
    path = tmp_path / "emotions.txt"
    path.write_text("calm\nhappy\nCalm\n")
    with pytest.raises(ValueError, match=r"line 3: duplicate emotion 'Calm' \(first on line 1\)"):
        Catalogue.from_file(path)


@pytest.mark.parametrize("bad", ["", "calm!", "two\nlines", "_x"])
def test_catalogue_rejects_non_words(bad):
    with pytest.raises(ValueError):
        Catalogue.from_words([bad])


def test_catalogue_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Catalogue.from_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no emotions"):
        Catalogue.from_file(tmp_path / "empty.txt")
    with pytest.raises(KeyError, match="not in the catalogue"):
        Catalogue.default().index("hangry")


def test_subset_keeps_catalogue_order():
    cat = Catalogue.default().subset(["calm", "afraid"])
    assert cat.emotions == ("afraid", "calm")


def test_shipped_norms_load_126_words_matching_the_csv():
    norms = load_norms()
    assert len(norms) == 126
    with open(DATA / "affect_norms_warriner2013.csv", newline="") as handle:
        rows = {r["emotion"]: r for r in csv.DictReader(handle)}
    for word in ("afraid", "calm", "desperate", "happy", "worthless"):
        norm = norms[word]
        row = rows[word]
        assert (norm.valence, norm.arousal, norm.dominance) == (
            float(row["valence"]),
            float(row["arousal"]),
            float(row["dominance"]),
        )
    assert norms["afraid"].valence == 2.25 and norms["afraid"].arousal == 5.12


def test_shipped_norms_cover_only_catalogue_lemmas():
    norms = load_norms()
    cat = Catalogue.default()
    assert set(norms) <= set(cat)
    assert "alarmed" not in norms and "at ease" not in norms  # not guessed
    assert len(norms.covered(cat)) == 126
    assert norms.column("valence", ["calm"]) == [norms["calm"].valence]


def test_user_norms_csv(tmp_path):
    path = tmp_path / "norms.csv"
    path.write_text("word_id,emotion,valence,arousal,dominance\n1,calm,0.8,0.1,0.6\n")
    norms = load_norms(path)
    assert norms["calm"].valence == 0.8 and norms.source == str(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("emotion,valence,arousal\ncalm,1,2\n", r"line 1: missing column\(s\) dominance"),
        ("emotion,valence,arousal,dominance\ncalm,1,2,3\nsad,x,2,3\n", r"line 3: valence of 'sad'"),
        ("emotion,valence,arousal,dominance\ncalm,1,2\n", "line 2: expected 4 fields, found 3"),
        (
            "emotion,valence,arousal,dominance\ncalm,1,2,3\ncalm,1,2,3\n",
            "line 3: 'calm' is listed twice",
        ),
        ("emotion,valence,arousal,dominance\n,1,2,3\n", "line 2: the emotion field is empty"),
        ("emotion,valence,arousal,dominance\ncalm,1,nan,3\n", "line 2: arousal of 'calm'"),
        ("emotion,valence,arousal,dominance\n", "no rows"),
        ("", "is empty"),
    ],
)
def test_malformed_norms_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "norms.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match=message) as err:
        load_norms(path)
    assert str(path) in str(err.value)


def test_missing_norms_word_is_a_clear_key_error():
    with pytest.raises(KeyError, match="No affect norms for 'alarmed'"):
        load_norms()["alarmed"]


def test_topics_are_shipped_and_unique():
    topics = default_topics()
    assert len(topics) == 100 and len(set(topics)) == 100
    neutral = default_neutral_topics()
    assert 50 <= len(neutral) <= 70 and len(set(neutral)) == len(neutral)
    assert load_topics(neutral=True) == neutral


def test_user_topics_file(tmp_path):
    path = tmp_path / "topics.txt"
    path.write_text("a cat sits on a mat\n# skipped\na dog barks\n")
    assert load_topics(path) == ("a cat sits on a mat", "a dog barks")
