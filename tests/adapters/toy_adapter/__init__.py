"""A fourth adapter, built the way a contributor would: this folder and one entry point.

Its "framework" is `ToyWrapped`, a stand-in for a library that wraps a Hugging Face causal LM in
its own object (as nnsight does). The adapter reaches the wrapped model's layers with
`emovec.adapterkit` and nothing else; `tests/adapters/test_fourth_adapter.py` registers it
through a distribution's `emovec.backends` entry point and runs the shared conformance tests.
"""

from ._framework import ToyWrapped as ToyWrapped
