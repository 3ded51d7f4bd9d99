"""The bad-input table: every CLI command and public entry point, fed what a careless user feeds.

Each case runs in a fresh copy of a small workspace (a random bundle, corpora good and broken,
config files, a file where a folder belongs) with that copy as the working directory, so the
messages name short relative paths. A case gives the expected exit code (or exception) and two
pieces of the message: what names the problem and what names the fix. Commands that would load
a model get `--model no-such-model`: a case that reached the model would fail with "Unknown
model" instead of its own message, so every row here also proves its check runs before any
model loads. `tests/test_cli_hardening.py` runs the table; this module's main writes
`docs/reliability.md` from the same runs:

    PYTHONPATH=.:adapters python -m tests.cli_cases --write docs/reliability.md
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NO_MODEL = ("--model", "no-such-model")
V = ("--vectors", "v.safetensors")
RECORD = {
    "id": "story/calm/t000/s0",
    "kind": "story",
    "emotion": "calm",
    "topic": "lake",
    "text": "She breathed out slowly by the lake.",
    "generator": "m",
    "seed": 1,
}
STORIES = [
    {"kind": "story", "emotion": "calm", "text": "She breathed out slowly by the lake."},
    {"kind": "story", "emotion": "afraid", "text": "The footsteps behind him grew louder."},
    {"kind": "neutral", "text": "Human: What time is it?\n\nAssistant: Half past two."},
]


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (or an API call), and what must come back."""

    group: str
    what: str
    argv: tuple[str, ...] = ()
    code: int | str = 1  # exit code, or the exception class name for an API call
    problem: str = ""  # a piece of the message naming the problem
    fix: str = ""  # a piece of the message naming the fix
    call: Callable[[], object] | None = None  # an API entry point instead of the CLI

    @property
    def shown(self) -> str:
        if self.call is not None:
            return getattr(self.call, "shown", self.call.__name__)
        return "emovec " + " ".join(a if a and " " not in a else repr(a) for a in self.argv)


@dataclass(frozen=True)
class Outcome:
    code: int | str
    message: str  # stderr (or the exception's message), stripped
    stdout: str
    left: list[str]  # files and folders the run added or changed


def _lines(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def make_workspace(root: Path) -> Path:
    """The files the cases read (written once; each case runs in a copy)."""
    from tests.monitor import random_bundle

    root.mkdir(parents=True, exist_ok=True)
    bundle = random_bundle().save(root / "v.safetensors")
    data = bundle.read_bytes()
    (root / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (root / "garbage.safetensors").write_bytes(b"this is not a bundle at all\n")
    (root / "empty.safetensors").write_bytes(b"")
    _tampered(data, root / "zero_row.safetensors", lambda t: t[1].zero_())
    _tampered(data, root / "nan.safetensors", lambda t: t[0, 0].fill_(float("nan")))
    files = {
        "good.jsonl": _lines(STORIES),
        "empty.jsonl": "",
        "blank.jsonl": "\n\n  \n",
        "truncated.jsonl": _lines(STORIES) + '{"kind": "story", "emotion": "calm", "te',
        "array.jsonl": _lines(STORIES) + "[1, 2, 3]\n",
        "number.jsonl": _lines(STORIES) + "42\n",
        "string.jsonl": _lines(STORIES) + '"just a string"\n',
        "notext.jsonl": _lines(STORIES) + '{"kind": "story", "emotion": "calm"}\n',
        "noemotion.jsonl": _lines(STORIES) + '{"kind": "story", "text": "No feeling."}\n',
        "badkind.jsonl": _lines(STORIES) + '{"kind": "poem", "text": "Roses."}\n',
        "numbertext.jsonl": _lines(STORIES) + '{"kind": "neutral", "text": 7}\n',
        "one_emotion.jsonl": _lines([STORIES[0], STORIES[0], STORIES[2]]),
        "no_stories.jsonl": _lines([STORIES[2]]),
        "records/array.jsonl": _lines([RECORD]) + "[1, 2, 3]\n",
        "records/truncated.jsonl": _lines([RECORD]) + '{"id": "x", "ki',
        "prompt.txt": "How are you today?\n",
        "blank_prompt.txt": "   \n",
        "afile": "a file where a folder is expected\n",
        "config/wrong_type.toml": 'batch-tokens = "lots"\n',
        "config/float_for_int.toml": "window = 2.5\n",
        "config/unknown.toml": "no-such-option = 1\n",
        "config/command_key.toml": 'score = "x"\n',
        "config/flag_string.toml": 'quiet = "yes"\n',
        "config/list_for_scalar.toml": "window = [1, 2]\n",
        "config/bad_choice.toml": 'scale = "log"\n',
        "config/negative.toml": "window = -3\n",
        "config/unknown_table.toml": "[scoring]\nwindow = 3\n",
        "config/table_unknown_key.toml": "[score]\nnope = 1\n",
        "config/syntax.toml": "window = = 3\n",
        "config/positional.toml": 'corpus = "good.jsonl"\n',
        "config/dtype.toml": 'dtype = "float8"\n',
        "prompts/empty_text.jsonl": '{"text": ""}\n',
        "prompts/array.jsonl": '{"text": "hi"}\n["hi"]\n',
        "prompts/empty.jsonl": "",
        "corpus_folder/manifest.json": "{not json",
        "array_manifest/manifest.json": "[1, 2]",
        "no_stories_folder/manifest.json": "{}",
        "jsonl_folder/readme.txt": "no jsonl files here\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    binary = {
        "latin1.jsonl": _lines(STORIES).encode() + b'{"kind": "neutral", "text": "caf\xe9"}\n',
        "latin1.txt": b"caf\xe9 au lait\n",
        "config/latin1.toml": b'dtype = "caf\xe9"\n',
        "prompts/latin1.jsonl": b'{"text": "caf\xe9"}\n',
        "records/latin1.jsonl": _lines([RECORD]).encode() + b'{"id": "caf\xe9"}\n',
    }
    for name, raw in binary.items():
        (root / name).write_bytes(raw)
    for folder in ("a_folder", "folder.safetensors", "folder.json"):
        (root / folder).mkdir(exist_ok=True)
    return root


def _tampered(data: bytes, path: Path, change: Callable[[Any], object]) -> None:
    """A copy of a good bundle file with its tensor changed behind the library's back (the
    metadata, the file's JSON header, kept as it is)."""
    from safetensors.torch import load, save

    size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + size]).get("__metadata__", {})
    tensors = load(data)
    change(tensors["vectors"])
    path.write_bytes(save(tensors, metadata=metadata))


def _api(shown: str, fn: Callable[[], object]) -> Callable[[], object]:
    fn.shown = shown  # type: ignore[attr-defined]
    return fn


def _api_cases() -> list[Case]:
    def load_corpus(path: str) -> Callable[[], object]:
        from emovec.corpus import load_corpus as load

        return _api(f"emovec.corpus.load_corpus({path!r})", lambda: load(path))

    def read_jsonl(path: str) -> Callable[[], object]:
        from emovec.corpus import read_jsonl as read

        return _api(f"emovec.corpus.read_jsonl({path!r})", lambda: read(path))

    def parse_sites(spec: str) -> Callable[[], object]:
        from emovec import parse_sites as parse

        return _api(f"emovec.parse_sites({spec!r}, 30)", lambda: parse(spec, 30))

    def bundle(path: str) -> Callable[[], object]:
        from emovec.vectors import EmotionVectors

        return _api(f"EmotionVectors.load({path!r})", lambda: EmotionVectors.load(path))

    api = "python api"
    return [
        Case(api, "corpus folder missing", call=load_corpus("nowhere"), code="FileNotFoundError",
             problem="nowhere does not exist", fix="emovec corpus"),
        Case(api, "corpus folder without manifest", call=load_corpus("a_folder"),
             code="FileNotFoundError", problem="has no manifest.json", fix="emovec corpus filter"),
        Case(api, "manifest not JSON", call=load_corpus("corpus_folder"), code="ValueError",
             problem="not valid JSON", fix="emovec corpus filter"),
        Case(api, "manifest a JSON array", call=load_corpus("array_manifest"), code="ValueError",
             problem="not a JSON object", fix="emovec corpus filter"),
        Case(api, "corpus folder without stories.jsonl", call=load_corpus("no_stories_folder"),
             code="FileNotFoundError", problem="has no stories.jsonl",
             fix="emovec corpus generate"),
        Case(api, "record file with an array line", call=read_jsonl("records/array.jsonl"),
             code="ValueError", problem="records/array.jsonl, line 2: a JSON array, not an object",
             fix="Fix or delete"),
        Case(api, "record file not UTF-8", call=read_jsonl("records/latin1.jsonl"), code="ValueError",
             problem="records/latin1.jsonl, line 2: not UTF-8", fix="Fix or delete"),
        Case(api, "record file truncated mid-line", call=read_jsonl("records/truncated.jsonl"),
             code="ValueError", problem="records/truncated.jsonl, line 2: not valid JSON",
             fix="Fix or delete"),
        Case(api, "site range that is not numbers", call=parse_sites("a:b"), code="ValueError",
             problem="Cannot read layer range 'a:b'", fix="write e.g. '4:20'"),
        Case(api, "site past the last layer", call=parse_sites("99"), code="ValueError",
             problem="outside the model", fix="30 layers"),
        Case(api, "empty site range", call=parse_sites("4:2"), code="ValueError",
             problem="Layer range '4:2' is empty", fix="e.g. '2:5'"),
        Case(api, "a site named twice", call=parse_sites("20,20"), code="ValueError",
             problem="named twice in '20,20'", fix="list each site once"),
        Case(api, "bundle with an all-zero row", call=bundle("zero_row.safetensors"),
             code="VectorFileError", problem="'afraid' at resid_post.0 is all zeros",
             fix="drop the emotion with select()"),
        Case(api, "bundle with a NaN", call=bundle("nan.safetensors"),
             code="VectorFileError", problem="contain NaN or Inf (first: 'calm' at resid_post.0",
             fix="re-extract the bundle"),
        Case(api, "bundle file of garbage", call=bundle("garbage.safetensors"),
             code="VectorFileError", problem="garbage.safetensors is not a readable",
             fix="Re-extract it"),
    ]  # fmt: skip


def _file_cases() -> list[Case]:
    g = "files"
    score = ("score", *V, *NO_MODEL)
    return [
        Case(g, "score: corpus missing", (*score, "missing.jsonl"), 1,
             "missing.jsonl does not exist", "pass a JSONL or text file"),
        Case(g, "score: corpus is a folder", (*score, "a_folder"), 1,
             "a_folder does not exist or is not a file", "pass a JSONL or text file"),
        Case(g, "score: bundle missing", ("score", "good.jsonl", "--vectors", "nope.safetensors",
             *NO_MODEL), 1, "--vectors nope.safetensors does not exist", "emovec extract"),
        Case(g, "score: bundle truncated", ("score", "good.jsonl", "--vectors",
             "truncated.safetensors", *NO_MODEL), 1, "truncated.safetensors", "safetensors"),
        Case(g, "score: bundle empty", ("score", "good.jsonl", "--vectors", "empty.safetensors",
             *NO_MODEL), 1, "empty.safetensors", "safetensors"),
        Case(g, "score: no --vectors", ("score", "good.jsonl", *NO_MODEL), 1,
             "--vectors", "Pass --vectors BUNDLE"),
        Case(g, "vectors info: bundle of garbage", ("vectors", "info", "garbage.safetensors"),
             1, "garbage.safetensors", "safetensors"),
        Case(g, "vectors info: bundle missing", ("vectors", "info", "nope.safetensors"), 1,
             "BUNDLE nope.safetensors does not exist", "emovec extract"),
        Case(g, "report: comparison bundle missing", ("report", "v.safetensors", *NO_MODEL,
             "--compare", "nope.safetensors"), 1, "--compare nope.safetensors does not exist",
             "emovec extract"),
        Case(g, "report: bundle missing", ("report", "nope.safetensors", *NO_MODEL), 1,
             "BUNDLE nope.safetensors does not exist", "emovec extract"),
        Case(g, "monitor: prompt file missing", ("monitor", *V, *NO_MODEL, "--prompt-file",
             "nope.txt"), 1, "--prompt-file nope.txt does not exist", "pass an existing"),
        Case(g, "monitor: prompt file is a folder", ("monitor", *V, *NO_MODEL, "--prompt-file",
             "a_folder"), 1, "is a folder", "pass a text file"),
        Case(g, "monitor: prompt file not UTF-8", ("monitor", *V, *NO_MODEL, "--prompt-file",
             "latin1.txt"), 1, "is not UTF-8", "save it as UTF-8"),
        Case(g, "monitor: prompt file blank", ("monitor", *V, *NO_MODEL, "--prompt-file",
             "blank_prompt.txt"), 1, "The prompt is empty", "non-empty --prompt"),
        Case(g, "monitor: both --prompt and --prompt-file", ("monitor", *V, *NO_MODEL,
             "--prompt", "hi", "--prompt-file", "prompt.txt"), 1, "exactly one", "--prompt"),
        Case(g, "calibrate: prompts file missing", ("monitor", "calibrate", *V, *NO_MODEL,
             "--prompts", "nope.jsonl"), 1, "prompts nope.jsonl does not exist",
             "pass a JSONL file"),
        Case(g, "calibrate: prompts file empty", ("monitor", "calibrate", *V, *NO_MODEL,
             "--prompts", "prompts/empty.jsonl"), 1, "holds no texts", "add JSON lines"),
        Case(g, "calibrate: prompt line with empty text", ("monitor", "calibrate", *V,
             *NO_MODEL, "--texts", "prompts/empty_text.jsonl"), 1,
             "empty_text.jsonl, line 1: no non-empty string field 'text'", "Fix or delete"),
        Case(g, "calibrate: prompt line a JSON array", ("monitor", "calibrate", *V, *NO_MODEL,
             "--prompts", "prompts/array.jsonl"), 1, "array.jsonl, line 2: a JSON array",
             "Fix or delete"),
        Case(g, "calibrate: prompts not UTF-8", ("monitor", "calibrate", *V, *NO_MODEL,
             "--prompts", "prompts/latin1.jsonl"), 1, "latin1.jsonl, line 1: not UTF-8",
             "Fix or delete"),
        Case(g, "evaluate: null prompts missing", ("monitor", "evaluate", *V, *NO_MODEL,
             "--null-prompts", "nope.jsonl"), 1,
             "does not exist", "pass a JSONL file"),
    ]  # fmt: skip


def _extract(corpus: str, *more: str) -> tuple[str, ...]:
    return ("extract", "--corpus", corpus, *NO_MODEL, "--out", "vec", *more)


def _corpus_cases() -> list[Case]:
    g = "corpora"
    fix = "Fix or delete these lines"
    return [
        Case(g, "extract: corpus missing", _extract("nope.jsonl"), 1, "does not exist",
             "pass an existing file"),
        Case(g, "extract: empty file", _extract("empty.jsonl"), 1, "has no stories",
             "add some"),
        Case(g, "extract: only blank lines", _extract("blank.jsonl"), 1, "has no stories",
             "add some"),
        Case(g, "extract: truncated last line", _extract("truncated.jsonl"), 1,
             "truncated.jsonl, line 4: not valid JSON", fix),
        Case(g, "extract: a line that is a JSON array", _extract("array.jsonl"), 1,
             "array.jsonl, line 4: a JSON array, not an object", fix),
        Case(g, "extract: a line that is a number", _extract("number.jsonl"), 1,
             "number.jsonl, line 4: a JSON number, not an object", fix),
        Case(g, "extract: a line that is a string", _extract("string.jsonl"), 1,
             "string.jsonl, line 4: a JSON string, not an object", fix),
        Case(g, "extract: a story without text", _extract("notext.jsonl"), 1,
             "notext.jsonl, line 4: no non-empty string field 'text'", fix),
        Case(g, "extract: a story without emotion", _extract("noemotion.jsonl"), 1,
             "line 4: a story needs a non-empty string field 'emotion'", fix),
        Case(g, "extract: an unknown kind", _extract("badkind.jsonl"), 1,
             "line 4: field 'kind' must be 'story' or 'neutral'", fix),
        Case(g, "extract: a text that is a number", _extract("numbertext.jsonl"), 1,
             "numbertext.jsonl, line 4: no non-empty string field 'text'", fix),
        Case(g, "extract: not UTF-8", _extract("latin1.jsonl"), 1,
             "latin1.jsonl, line 4: not UTF-8", fix),
        Case(g, "extract: stories of one emotion", _extract("one_emotion.jsonl"), 1,
             "stories of one emotion only", "at least two emotions"),
        Case(g, "extract: no stories, only neutral texts", _extract("no_stories.jsonl"), 1,
             "has no stories", "add some"),
        Case(g, "extract: folder without *.jsonl", _extract("jsonl_folder"), 1,
             "holds no *.jsonl files", "pass a corpus file"),
        Case(g, "extract: corpus folder with a broken manifest", _extract("corpus_folder"), 1,
             "not valid JSON", "emovec corpus filter"),
        Case(g, "extract: no stories, with --per-emotion 1",
             _extract("no_stories.jsonl", "--per-emotion", "1"), 1, "has no stories",
             "add some"),
    ]  # fmt: skip


def _argument_cases() -> list[Case]:
    g = "arguments"
    score = ("score", "good.jsonl", *V, *NO_MODEL)
    mon = ("monitor", *V, *NO_MODEL, "--prompt", "hi")
    gen = ("steer", "generate", *V, *NO_MODEL, "--prompt", "hi")
    help_ = "see `emovec"
    return [
        Case(g, "score: a site the bundle lacks", (*score, "--sites", "5"), 1,
             "resid_post.5", "outside the model"),
        Case(g, "score: an unknown emotion", (*score, "--emotions", "nosuch"), 1,
             "No emotion 'nosuch'", "emovec vectors info"),
        Case(g, "score: a site that is not a site", (*score, "--sites", "layer5"), 1,
             "Cannot read site 'layer5'", "resid_post"),
        Case(g, "score: an empty site range", (*score, "--sites", "2:1"), 1,
             "Layer range '2:1' is empty", "e.g. '1:3'"),
        Case(g, "score: window 0", (*score, "--window", "0"), 2,
             "--window: must be a positive integer, got 0", help_),
        Case(g, "score: negative batch tokens", (*score, "--batch-tokens", "-5"), 2,
             "--batch-tokens: must be a positive integer", help_),
        Case(g, "score: percentile 150", (*score, "--percentile", "150"), 2,
             "must be a percentile in [0, 100]", help_),
        Case(g, "score: percentile nan", (*score, "--percentile", "nan"), 2,
             "must be a percentile in [0, 100], got nan", help_),
        Case(g, "score: negative start token", (*score, "--start-token", "-1"), 2,
             "--start-token: must be an integer >= 0", help_),
        Case(g, "score: a scale that does not exist", (*score, "--scale", "log"), 2,
             "invalid choice: 'log'", help_),
        Case(g, "score: z scale without calibration", (*score, "--scale", "z"), 1,
             "--scale z needs a calibration", "emovec monitor calibrate"),
        Case(g, "report: a site the bundle lacks", ("report", "v.safetensors", *NO_MODEL,
             "--site", "99"), 1, "No site resid_post.99", "emovec vectors info"),
        Case(g, "report: zero resamples", ("report", "v.safetensors", "--resamples", "0"), 2,
             "--resamples: must be a positive integer", help_),
        Case(g, "monitor: intervene toward an unknown emotion", (*mon, "--action", "intervene",
             "--toward", "nosuch"), 1, "No emotion 'nosuch'", "emovec vectors info"),
        Case(g, "monitor: an unknown emotion to read", (*mon, "--emotions", "calm,nosuch"), 1,
             "No emotion 'nosuch'", "emovec vectors info"),
        Case(g, "monitor: a site the bundle lacks", (*mon, "--sites", "7"), 1,
             "resid_post.7", "outside the model"),
        Case(g, "monitor: zero new tokens", (*mon, "--max-new-tokens", "0"), 2,
             "--max-new-tokens: must be a positive integer", help_),
        Case(g, "monitor: infinite strength", (*mon, "--strength", "inf"), 2,
             "--strength: must be a finite number", help_),
        Case(g, "monitor: negative temperature", (*mon, "--temperature", "-1"), 2,
             "--temperature: must be a finite number >= 0", help_),
        Case(g, "monitor: an unknown action", (*mon, "--action", "explode"), 2,
             "invalid choice: 'explode'", help_),
        Case(g, "evaluate: false-alarm rate 2", ("monitor", "evaluate", *V, "--false-alarm",
             "2"), 2, "--false-alarm: must be a fraction in [0, 1]", help_),
        Case(g, "calibrate: negative batch size", ("monitor", "calibrate", *V, "--batch-size",
             "-1"), 2, "--batch-size: must be a positive integer", help_),
        Case(g, "steer generate: an unknown emotion", (*gen, "--steer", "nosuch:0.1"), 1,
             "No emotion 'nosuch'", "emovec vectors info"),
        Case(g, "steer generate: strength not a number", (*gen, "--steer", "calm:lots"), 1,
             "Cannot read strength 'lots'", "comma-separated numbers"),
        Case(g, "steer generate: no strength", (*gen, "--steer", "calm"), 1,
             "Cannot read --steer 'calm'", "EMOTION:STRENGTH"),
        Case(g, "steer generate: a site the bundle lacks", (*gen, "--steer", "calm:0.1",
             "--sites", "9"), 1, "resid_post.9", "outside the model"),
        Case(g, "steer generate: an empty site range", (*gen, "--steer", "calm:0.1",
             "--sites", "4:2"), 1, "Layer range '4:2' is empty", "e.g. '2:5'"),
        Case(g, "extract: an empty site range", _extract("good.jsonl", "--sites", "4:2"), 1,
             "Layer range '4:2' is empty", "e.g. '2:5'"),
        Case(g, "extract: a site named twice", _extract("good.jsonl", "--sites", "20,20"), 1,
             "named twice in '20,20'", "list each site once"),
        Case(g, "monitor: a site range past the bundle", (*mon, "--sites", "0:9"), 1,
             "resid_post.3 is outside the model", "Pick a layer below that"),
        Case(g, "steer dose: zero-length last", ("steer", "dose", *V, "--emotion", "calm",
             "--metric", "m", "--last", "0"), 2, "--last: must be a positive integer", help_),
        Case(g, "extract: negative --per-emotion", _extract("good.jsonl", "--per-emotion",
             "-2"), 2, "--per-emotion: must be a positive integer", help_),
        Case(g, "extract: neutral variance 1.5", _extract("good.jsonl", "--neutral-variance",
             "1.5"), 2, "--neutral-variance: must be a fraction in [0, 1]", help_),
        Case(g, "extract: checkpoint every 0 batches", _extract("good.jsonl",
             "--checkpoint-every", "0"), 2, "--checkpoint-every: must be a positive integer",
             help_),
        Case(g, "extract: a dtype that does not exist", _extract("good.jsonl", "--dtype",
             "float8"), 2, "invalid choice: 'float8'", help_),
        Case(g, "corpus generate: top-p 0", ("corpus", "generate", "--top-p", "0"), 2,
             "--top-p: must be a fraction in (0, 1]", help_),
        Case(g, "an unknown command", ("frobnicate",), 2, "invalid choice: 'frobnicate'",
             help_),
        Case(g, "an unknown option", ("score", "good.jsonl", "--frobnicate"), 2,
             "unrecognized arguments: --frobnicate", help_),
    ]  # fmt: skip


def _config_cases() -> list[Case]:
    g = "config"
    score = ("score", "good.jsonl", *V, *NO_MODEL, "--config")

    def c(name: str) -> tuple[str, ...]:
        return (*score, f"config/{name}.toml")

    return [
        Case(g, "config file missing", (*score, "config/nope.toml"), 2,
             "Cannot read config config/nope.toml", "pass a UTF-8 TOML file"),
        Case(g, "config not TOML", c("syntax"), 2, "Cannot read config", "TOML file"),
        Case(g, "config not UTF-8", c("latin1"), 2, "Cannot read config", "UTF-8 TOML file"),
        Case(g, "config: a string for an integer", c("wrong_type"), 2,
             "batch-tokens = 'lots': 'lots' is not a positive integer", "config/"),
        Case(g, "config: a fraction for an integer", c("float_for_int"), 2,
             "window = 2.5", "not a positive integer"),
        Case(g, "config: a negative count", c("negative"), 2, "window = -3",
             "must be a positive integer"),
        Case(g, "config: an unknown key", c("unknown"), 2, "unknown option 'no-such-option'",
             "see its --help"),
        Case(g, "config: a top-level key named like the command", c("command_key"), 2,
             "unknown option 'score'", "see its --help"),
        Case(g, "config: a string for a flag", c("flag_string"), 2, "quiet = 'yes'",
             "must be true or false"),
        Case(g, "config: a list for a single value", c("list_for_scalar"), 2,
             "window = [1, 2]", "must be a single value"),
        Case(g, "config: a choice that does not exist", c("bad_choice"), 2,
             "scale = 'log': invalid choice", "choose from"),
        Case(g, "config: a table that is not a command", c("unknown_table"), 2,
             "table [scoring] is not an emovec command", "named after commands"),
        Case(g, "config: an unknown key in the command's table", c("table_unknown_key"), 2,
             "unknown option 'nope'", "see its --help"),
        Case(g, "config: a positional argument", c("positional"), 2,
             "unknown option 'corpus'", "see its --help"),
        Case(g, "config: a dtype that does not exist", c("dtype"), 2,
             "dtype = 'float8': invalid choice", "choose from"),
    ]  # fmt: skip


def _filesystem_cases() -> list[Case]:
    g = "file system"
    score = ("score", "good.jsonl", *V, *NO_MODEL, "--out")
    unwritable = "/proc/emovec-out"
    return [
        Case(g, "score: --out is a file", (*score, "afile"), 1, "--out afile is a file",
             "pass a folder path"),
        Case(g, "score: --out under a file", (*score, "afile/sub"), 1,
             "afile is a file, so no folder can be made there", "pass another path"),
        Case(g, "score: --out unwritable", (*score, unwritable), 1, "cannot write in /proc",
             "pass a folder you can write to"),
        Case(g, "extract: --out is a file", ("extract", "--corpus", "good.jsonl", *NO_MODEL,
             "--out", "afile"), 1, "--out afile is a file", "pass a folder path"),
        Case(g, "extract: --out bundle path is a folder", ("extract", "--corpus", "good.jsonl",
             *NO_MODEL, "--out", "folder.safetensors"), 1, "--out folder.safetensors is a folder",
             "pass a file path ending in .safetensors"),
        Case(g, "extract: --out unwritable", ("extract", "--corpus", "good.jsonl", *NO_MODEL,
             "--out", unwritable), 1, "cannot write in /proc", "pass a folder you can"),
        Case(g, "monitor: --out is a file", ("monitor", *V, *NO_MODEL, "--prompt", "hi",
             "--out", "afile"), 1, "--out afile is a file", "pass a folder path"),
        Case(g, "monitor evaluate: --out unwritable", ("monitor", "evaluate", *V, *NO_MODEL,
             "--out", unwritable), 1, "cannot write in /proc", "pass a folder you can"),
        Case(g, "calibrate: --out is a folder", ("monitor", "calibrate", *V, *NO_MODEL,
             "--out", "folder.json"), 1, "--out folder.json is a folder",
             "pass a file path ending in .json"),
        Case(g, "report: --out is a file", ("report", "v.safetensors", *NO_MODEL, "--out",
             "afile"), 1, "--out afile is a file", "pass a folder path"),
        Case(g, "steer dose: --out unwritable", ("steer", "dose", *V, *NO_MODEL, "--emotion",
             "calm", "--metric", "m", "--out", unwritable), 1, "cannot write in /proc",
             "pass a folder you can"),
        Case(g, "replicate: --out is a file", ("replicate", *NO_MODEL, "--out", "afile"), 1,
             "--out afile is a file", "pass a folder path"),
        Case(g, "corpus generate: --out under a file", ("corpus", "generate", *NO_MODEL,
             "--out", "afile/x"), 1, "afile is a file", "pass another path"),
    ]  # fmt: skip


def all_cases() -> list[Case]:
    cases = [
        *_file_cases(),
        *_corpus_cases(),
        *_argument_cases(),
        *_config_cases(),
        *_filesystem_cases(),
        *_api_cases(),
    ]
    return cases


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
    }


def run_case(case: Case, workspace: Path, scratch: Path) -> Outcome:
    """Run `case` in a fresh copy of `workspace` (at `scratch`) as the working directory."""
    from emovec.cli import main

    shutil.copytree(workspace, scratch)
    before = _snapshot(scratch)
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            if case.call is not None:
                try:
                    case.call()
                    code: int | str = "no error"
                except Exception as exc:  # the table records which class came back
                    code, message = type(exc).__name__, str(exc)
                    err.write(message)
            else:
                try:
                    code = main(list(case.argv))
                except SystemExit as stop:
                    code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.chdir(cwd)
    after = _snapshot(scratch)
    left = sorted(k for k, v in after.items() if before.get(k) != v)
    return Outcome(code, err.getvalue().strip(), out.getvalue().strip(), left)


def render(cases: list[Case], outcomes: list[Outcome]) -> str:
    """docs/reliability.md: every case, its outcome and its message."""
    head = [
        "# Reliability: every bad input gets a clear answer",
        "",
        "<!-- generated by `PYTHONPATH=.:adapters python -m tests.cli_cases --write"
        " docs/reliability.md`; `tests/test_cli_hardening.py` fails when this page is stale -->",
        "",
        "Each row below is a case of the bad-input table in `tests/cli_cases.py`, run by",
        "`tests/test_cli_hardening.py` against the real command line (in-process",
        "`emovec.cli.main`) or the public API. For every row the test asserts the exit code (or",
        "exception), that the message is one line naming the problem and the fix, and that the run",
        "left no file behind. Commands that would load a model were given `--model no-such-model`,",
        "so every row also shows that its check runs before any model loads.",
        "",
        "Exit codes: 0 success; 2 a malformed command line or `--config` file (unknown option,",
        "wrong type, value out of range, unknown choice); 1 any other failure. `emovec --debug",
        "COMMAND ...` shows the traceback instead of the one-line message.",
        "",
        "JSONL inputs share one line reader. `emovec extract` (and corpus folders, and the monitor's",
        "prompt files) refuse a file with any bad line, naming the first three with file and",
        "1-based line number and counting the rest; `emovec score` skips each bad line, reports it",
        "with file and line number on stderr and lists it in `summary.json`.",
        "",
    ]
    body: list[str] = []
    group = None
    for case, outcome in zip(cases, outcomes, strict=True):
        if case.group != group:
            group = case.group
            body += ["", f"## {group.capitalize()}", "", "| case | run | outcome | message |",
                     "|---|---|---|---|"]  # fmt: skip
        shown = case.shown.replace("|", "\\|")
        message = outcome.message.replace("|", "\\|")
        code = outcome.code if isinstance(outcome.code, str) else f"exit {outcome.code}"
        body.append(f"| {case.what} | `{shown}` | {code} | {message} |")
    return "\n".join(head + body[1:]) + "\n"


def run_all(scratch: Path) -> tuple[list[Case], list[Outcome]]:
    workspace = make_workspace(scratch / "workspace")
    cases = all_cases()
    outcomes = [run_case(c, workspace, scratch / f"case{i:03d}") for i, c in enumerate(cases)]
    return cases, outcomes


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description="Run the bad-input table; write the page.")
    parser.add_argument("--write", type=Path, help="write docs/reliability.md here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cases, outcomes = run_all(Path(tmp))
    page = render(cases, outcomes)
    if args.write is None:
        sys.stdout.write(page)
    else:
        args.write.write_text(page, encoding="utf-8")
        print(f"wrote {args.write}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
