"""The main job as stages cached by content hash (`emovec replicate`)."""

from ._stages import Stage as Stage
from ._stages import StageCache as StageCache
from ._stages import bundle_digest as bundle_digest
from ._stages import file_digest as file_digest
from ._stages import key_of as key_of

__all__ = ["Stage", "StageCache", "bundle_digest", "file_digest", "key_of"]
