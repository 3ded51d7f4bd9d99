"""The tiny model and toy corpus of tests/extract, shared."""

import pytest

import emovec
from tests.conftest import tiny_llama
from tests.extract.conftest import toy_neutral, toy_stories


@pytest.fixture(scope="session")
def backend(tokenizer):
    return emovec.attach(tiny_llama(), tokenizer=tokenizer)


@pytest.fixture
def stories():
    return toy_stories()


@pytest.fixture
def neutral():
    return toy_neutral()
