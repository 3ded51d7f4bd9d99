"""The static scan takes only exact builtin values as plain: a subclass brings its module along.

`re.IGNORECASE` is an `int`, `http.HTTPStatus.OK` is an `int`, a user's `str` subclass is a
`str`: pickled, each names its class, from a module NDIF will not import.
"""

import ast
import http
import re
from typing import NamedTuple

import numpy
import pytest
import torch
from emovec_nnsight.remote._preflight import scan_block


class Mood(str):
    """A user's str subclass (its module, this test file, is not on NDIF)."""


class Pair(NamedTuple):
    layer: int
    scale: float


BLOCK = "x = layers[0]\ny = x * value  # uses it\n"


def scan(source: str, variables: dict) -> list:
    lines = source.splitlines()
    return scan_block(ast.parse(source).body, "<block>", variables, lines=lambda n: lines[n - 1])


REFUSED = {
    "re.IGNORECASE": (re.IGNORECASE, "re.RegexFlag object: module `re` is not whitelisted"),
    "http.HTTPStatus.OK": (http.HTTPStatus.OK, "http.HTTPStatus object: module `http`"),
    # Classes of this test module are named, not explained: whether cloudpickle ships them by
    # name or by value depends on which other tests registered the module (both are refused).
    "str subclass": (Mood("calm"), f"{__name__}.Mood"),
    "NamedTuple": (Pair(1, 2.0), f"{__name__}.Pair"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_builtin_subclass_is_refused_at_its_line(case):
    value, problem = REFUSED[case]
    found = scan(BLOCK, {"layers": [torch.ones(2)], "value": value})
    assert [(f.line, f.text) for f in found] == [(2, "y = x * value  # uses it")], found
    assert str(found[0]).startswith("<block>:2: `y = x * value  # uses it`: `value` is ")
    assert problem in found[0].problem, found[0].problem


def test_documented_refusals_say_so():
    (finding,) = scan(BLOCK, {"layers": [torch.ones(2)], "value": re.IGNORECASE})
    assert "(NDIF documents it as refused)" in finding.problem
    (finding,) = scan(BLOCK, {"layers": [torch.ones(2)], "value": http.HTTPStatus.OK})
    assert "documents" not in finding.problem


PLAIN = {
    "int": 3,
    "float": 2.0,
    "str": "calm",
    "bool": True,
    "None": None,
    "tuple": (1, 2.0, "a"),
    "list": [1, [2.0]],
    "dict": {"scale": 1.0},
    "tensor": torch.ones(2),
    "numpy float64": numpy.float64(1.5),  # a float subclass, but from a whitelisted module
}


@pytest.mark.parametrize("case", list(PLAIN))
def test_plain_values_pass(case):
    assert scan(BLOCK, {"layers": [torch.ones(2)], "value": PLAIN[case]}) == []
