"""echosafe-guard: contextual safety for LLM and multimodal-LLM stacks.

A guard retrieves abstract safety insights learnt from past, similar requests (text and image
context) and writes them into the system prompt, so the model can tell a harmful request from
its benign twin. See README.md for the data flow.
"""

from echosafe_guard.context import ImageRef, RequestContext, Turn
from echosafe_guard.exceptions import (
    ConfigError,
    DataFormatError,
    EchoSafeError,
    EmbedderError,
    EmbedderUnavailableError,
    ImageDecodeError,
    ImageError,
    ImageFetchError,
    ImageTooLargeError,
    InputError,
    InputTooLargeError,
    KeyLayoutMismatchError,
    MessageFormatError,
    PolicyError,
    StoreCapabilityError,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
)
from echosafe_guard.guard import Action, Decision, Guard, Prepared, Timings
from echosafe_guard.key.base import Embedder, EmbedderStatus
from echosafe_guard.key.image_cache import ImageCache
from echosafe_guard.key.key_builder import ContextKey, ImagePart, KeyBuilder
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.key.open_clip_embedder import OpenClipEmbedder
from echosafe_guard.key.sentence_transformer_embedder import SentenceTransformerEmbedder
from echosafe_guard.memory.base import InsightStore, StoreCapabilities
from echosafe_guard.memory.insight import (
    Insight,
    InsightStatus,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    SearchFilter,
    Verdict,
)
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.paired import PairedItem, read_paired_jsonl
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Mode, Policy, StoreErrorPolicy
from echosafe_guard.seeding import seed_memory
from echosafe_guard.settings import GuardSettings, open_store

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ConfigError",
    "ContextKey",
    "DataFormatError",
    "Decision",
    "EchoSafeError",
    "Embedder",
    "EmbedderError",
    "EmbedderStatus",
    "EmbedderUnavailableError",
    "Guard",
    "GuardSettings",
    "ImageCache",
    "ImageDecodeError",
    "ImageError",
    "ImageFetchError",
    "ImagePart",
    "ImageRef",
    "ImageTooLargeError",
    "InputError",
    "InputTooLargeError",
    "Insight",
    "InsightStatus",
    "InsightStore",
    "KeyBuilder",
    "KeyLayout",
    "KeyLayoutMismatchError",
    "LocalStore",
    "MessageFormatError",
    "Mode",
    "OpenClipEmbedder",
    "PairedItem",
    "Policy",
    "PolicyError",
    "Prepared",
    "Provenance",
    "ProvenanceSource",
    "RequestContext",
    "ScoredInsight",
    "SearchFilter",
    "SentenceTransformerEmbedder",
    "StoreCapabilities",
    "StoreCapabilityError",
    "StoreCorruptError",
    "StoreError",
    "StoreErrorPolicy",
    "StoreUnavailableError",
    "Timings",
    "Turn",
    "Verdict",
    "__version__",
    "load_policy",
    "open_store",
    "read_paired_jsonl",
    "seed_memory",
]
