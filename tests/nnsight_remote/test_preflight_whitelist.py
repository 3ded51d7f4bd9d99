"""The whitelist facts live in one place (`_whitelist`), and whatever else states them agrees.

The sandbox gets its rules from `_whitelist.as_json()` (checked by running its rule code,
`_remote_rules`, on that data), the docs list the same modules, and the installed nnsight is the one the facts
were read from.
"""

import ast
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from emovec_nnsight.remote import _whitelist as wl
from emovec_nnsight.remote._preflight import scan_block
from emovec_nnsight.remote._rules import Rules

DOCS = Path(__file__).parents[2] / "docs" / "remote.md"


def test_installed_nnsight_is_the_version_the_facts_were_read_from():
    installed = version("nnsight")
    assert installed == wl.NNSIGHT_CLIENT_VERSION, (
        f"nnsight {installed} is installed, but emovec_nnsight/remote/_whitelist.py was read from"
        f" nnsight {wl.NNSIGHT_CLIENT_VERSION}. Before changing NNSIGHT_CLIENT_VERSION,"
        " re-check against the new nnsight: the pickle globals every request needs"
        " (UNPICKLE_INTERNALS, BUILTIN_TYPES: tests/nnsight_remote/test_preflight.py runs clean blocks"
        " through the strict unpickler), RequestModel.serialize/deserialize and reduce_block"
        " (the rehearsal maps shipped lines back with them), how models are wrapped"
        " (_remote_standin.build), and NDIF's published whitelist; then update FACTS_VERSION."
    )


def documented_modules(text: str) -> set[str]:
    """The modules a text lists after "allowing only a few modules (", as top-level names."""
    match = re.search(r"allowing only a few modules \(([^)]*)\)", " ".join(text.split()))
    assert match is not None, "the docs no longer list the allowed modules in one sentence"
    return {item.strip().removeprefix("parts of ").strip() for item in match.group(1).split(",")}


def test_docs_list_exactly_the_whitelisted_modules():
    documented = documented_modules(DOCS.read_text())
    assert documented == set(wl.ALLOWED_MODULES), (
        f"docs/remote.md lists {sorted(documented)}; _whitelist.ALLOWED_MODULES is"
        f" {sorted(wl.ALLOWED_MODULES)} (missing from the docs:"
        f" {sorted(set(wl.ALLOWED_MODULES) - documented)}, extra:"
        f" {sorted(documented - set(wl.ALLOWED_MODULES))})"
    )


def test_docs_parser_sees_a_module_missing():
    doctored = "the server runs it, allowing only a few modules (torch, numpy,\nparts of nnsight)"
    assert documented_modules(doctored) == {"torch", "numpy", "nnsight"}
    assert documented_modules(doctored) != set(wl.ALLOWED_MODULES)


NAMES = ["__dict__", "__x__", "____", "___", "__", "_dict_", "__init", "dict__", "_module", "a"]
MODULES = ["torch", "torch.nn", "functools", "emovec", "nnsight.intervention", "re", "einops"]


def test_sandbox_applies_the_whitelist_rules_from_its_data():
    # The sandbox loads this same file by path and builds its rules from `wl.as_json()`.
    rules = Rules(wl.as_json())
    assert [rules.dunder(n) for n in NAMES] == [wl.attribute_blocked(n) for n in NAMES]
    assert [rules.module_allowed(m) for m in MODULES] == [wl.module_allowed(m) for m in MODULES]
    # The rule really is read from the data: a different minimum length changes its verdict.
    doctored = Rules({**wl.as_json(), "dunder_min_length": 4})
    assert doctored.dunder("____") and not wl.attribute_blocked("____")


@pytest.mark.parametrize("module", wl.KNOWN_BLOCKED_MODULES)
def test_documented_refusals_are_refused_and_named(module):
    assert not wl.module_allowed(module)
    source = f"import {module}"
    (finding,) = scan_block(ast.parse(source).body, "<block>", {}, lines=lambda n: source)
    assert f"module `{module}` is not whitelisted on NDIF (NDIF documents it as refused)" in str(
        finding
    )
