"""The toy framework: an object that holds a causal LM and its tokenizer."""

from typing import Any


class ToyWrapped:
    """A framework's model object: the adapter must find the network inside."""

    def __init__(self, network: Any, tokenizer: Any):
        self.network = network
        self.tokenizer = tokenizer
