"""Vectors that travel: llama.cpp control vectors (GGUF, also read and written by repeng).

`export_gguf(bundle, path, "calm - desperate", 0.1)` writes one `direction.N` per steered site
(N = the block whose output it is added to, emovec's `resid_post.N`), scaled so that llama.cpp at
scale 1 adds what `emovec.Steer` adds at that strength; `import_gguf(path)` reads any control
vector back as a one-row `EmotionVectors` bundle. Needs the `gguf` package (the `hf` extra).
"""

from ._gguf import ControlVector as ControlVector
from ._gguf import control_vector as control_vector
from ._gguf import export_gguf as export_gguf
from ._gguf import import_gguf as import_gguf
from ._gguf import llama_layer as llama_layer
from ._gguf import read_gguf as read_gguf
from ._gguf import to_bundle as to_bundle
from ._gguf import write_gguf as write_gguf
from ._mix import mix_vector as mix_vector
from ._mix import parse_mix as parse_mix

__all__ = [
    "ControlVector",
    "control_vector",
    "export_gguf",
    "import_gguf",
    "llama_layer",
    "mix_vector",
    "parse_mix",
    "read_gguf",
    "to_bundle",
    "write_gguf",
]
