"""tallylog.tlog: a transparency log library (RFC 6962 trees as C2SP tlog-tiles with
C2SP signed-note checkpoints). Imports no web framework; see docs/tlog.md."""

from tallylog.tlog.appender import Appender, AppenderBrokenError, TreeHead
from tallylog.tlog.checkpoint import Checkpoint, format_checkpoint, open_checkpoint, parse_checkpoint, sign_checkpoint
from tallylog.tlog.client import LogClient, MalformedFileError, SourceError
from tallylog.tlog.errors import (
    FormatError,
    LogInconsistentError,
    MissingTileError,
    TileMismatchError,
    VerificationError,
)
from tallylog.tlog.hashes import (
    EMPTY_ROOT,
    HashReader,
    check_consistency,
    check_inclusion,
    leaf_hash,
    node_hash,
    prove_consistency,
    prove_inclusion,
    tree_hash,
)
from tallylog.tlog.note import Signer, Verifier, generate_key, open_note, sign_note
from tallylog.tlog.storage import FileStore, MemoryStore, TileStore
from tallylog.tlog.tiles import Tile, TileHashReader, format_bundle, parse_bundle, parse_tile_path, tile_path

__all__ = [
    "EMPTY_ROOT",
    "Appender",
    "AppenderBrokenError",
    "Checkpoint",
    "FileStore",
    "FormatError",
    "HashReader",
    "LogClient",
    "MalformedFileError",
    "SourceError",
    "LogInconsistentError",
    "MemoryStore",
    "MissingTileError",
    "Signer",
    "Tile",
    "TileHashReader",
    "TileMismatchError",
    "TileStore",
    "TreeHead",
    "VerificationError",
    "Verifier",
    "check_consistency",
    "check_inclusion",
    "format_bundle",
    "format_checkpoint",
    "generate_key",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "parse_bundle",
    "parse_checkpoint",
    "parse_tile_path",
    "prove_consistency",
    "prove_inclusion",
    "sign_checkpoint",
    "sign_note",
    "tile_path",
    "tree_hash",
]
