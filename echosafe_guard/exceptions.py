"""The one error tree of echosafe-guard.

Every error the library raises on purpose derives from :class:`EchoSafeError`, so a host
application can catch the whole family with one ``except`` clause. The tree::

    EchoSafeError
    ├── ConfigError                  bad configuration (settings, flags, environment)
    │   ├── PolicyError              a policy file that does not load or validate
    │   └── MissingExtraError        an adapter imported without its extra (also an ImportError)
    ├── InputError                   the request itself is bad (also a ValueError)
    │   ├── MessageFormatError       malformed chat messages: wrong types, unknown roles, ...
    │   ├── InputTooLargeError       text or a message list over the configured caps
    │   ├── DataFormatError          a data file (paired-bench JSONL, insight export) that is bad
    │   └── ImageError               an image that cannot be accepted
    │       ├── ImageDecodeError     bad base64, not an image, truncated, unsupported format
    │       ├── ImageTooLargeError   over the byte cap or the pixel cap (decompression bombs)
    │       └── ImageFetchError      an allowed remote image that could not be fetched
    ├── EmbedderError                an embedding model failed
    │   └── EmbedderUnavailableError a model that cannot be loaded (e.g. weights offline)
    ├── RequestBlockedError          enforce mode blocked the request (carries the decision)
    ├── AdjudicatorError             the adjudicating model failed or gave no log-probabilities
    ├── BenchError                   the benchmark runner failed (``eval``, ``judge``)
    │   ├── ModelCallError           the evaluated model failed on an item (after retries)
    │   ├── JudgeError               an LLM judge failed or stayed invalid after a repair
    │   └── BenchDownloadError       a hub benchmark (``hf:...``) that cannot be downloaded
    ├── LocalModelError              the local GGUF model (the ``[local]`` extra) cannot be used
    │   ├── LocalModelUnavailableError  llama-cpp-python, a model part or the GGUF file missing
    │   └── ModelChecksumError       the assembled GGUF does not match its size or sha256
    ├── LearningError                the learning loop failed on one exchange
    │   ├── ReflectionUnavailableError  the reflecting model failed or timed out (retried)
    │   └── ReflectionInvalidError   the reflection stayed invalid after a repair (dropped)
    └── StoreError                   the insight store failed
        ├── StoreUnavailableError    the store cannot be reached or opened
        ├── StoreCorruptError        on-disk data that cannot be read back
        ├── KeyLayoutMismatchError   the store was built with another key layout
        ├── IndexSchemaMismatchError a Redis index with another schema (memory reindex)
        └── StoreCapabilityError     an operation this store does not offer (see capabilities)

Errors that wrap another exception are raised with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AdjudicatorError",
    "BenchDownloadError",
    "BenchError",
    "ConfigError",
    "DataFormatError",
    "EchoSafeError",
    "EmbedderError",
    "EmbedderUnavailableError",
    "ImageDecodeError",
    "ImageError",
    "ImageFetchError",
    "ImageTooLargeError",
    "IndexSchemaMismatchError",
    "InputError",
    "InputTooLargeError",
    "JudgeError",
    "KeyLayoutMismatchError",
    "LearningError",
    "LocalModelError",
    "LocalModelUnavailableError",
    "MessageFormatError",
    "MissingExtraError",
    "ModelCallError",
    "ModelChecksumError",
    "PolicyError",
    "ReflectionInvalidError",
    "ReflectionUnavailableError",
    "RequestBlockedError",
    "StoreCapabilityError",
    "StoreCorruptError",
    "StoreError",
    "StoreUnavailableError",
]


class EchoSafeError(Exception):
    """Root of every error echosafe-guard raises on purpose."""


class ConfigError(EchoSafeError):
    """Invalid configuration: settings, CLI flags or environment variables."""


class PolicyError(ConfigError):
    """A policy file that cannot be read, parsed or validated."""


class MissingExtraError(ConfigError, ImportError):
    """An integration imported without its optional dependencies; the message names the extra
    to install (``pip install 'echosafe-guard[langchain]'``)."""


class InputError(EchoSafeError, ValueError):
    """The request handed to the guard is not acceptable. The message names the offending part."""


class MessageFormatError(InputError):
    """Chat messages that do not follow the OpenAI/LiteLLM message format."""


class InputTooLargeError(InputError):
    """Text or a message list larger than the configured caps."""


class DataFormatError(InputError):
    """A data file (paired-bench JSONL, an insight export) that does not parse or validate."""


class ImageError(InputError):
    """An image in the request that cannot be accepted."""


class ImageDecodeError(ImageError):
    """Bad base64, data that is not an image, a truncated file or an unsupported format."""


class ImageTooLargeError(ImageError):
    """An image over the encoded-byte cap or the decoded-pixel cap."""


class ImageFetchError(ImageError):
    """A remote image on the allow-list that could not be fetched."""


class EmbedderError(EchoSafeError):
    """An embedding model failed while computing a key."""


class EmbedderUnavailableError(EmbedderError):
    """An embedding model that cannot be loaded (missing package, weights not available offline)."""


class RequestBlockedError(EchoSafeError):
    """``enforce`` mode blocked the request; ``prepared`` holds the decision and insights."""

    def __init__(self, message: str, prepared: object | None = None) -> None:
        super().__init__(message)
        self.prepared = prepared


class AdjudicatorError(EchoSafeError):
    """The adjudicating model failed, timed out or returned no log-probabilities for the answer
    letters. The guard logs it and keeps the weak unsafe call (the request is never lost)."""


class BenchError(EchoSafeError):
    """The benchmark runner failed (``eval``, ``judge``)."""


class ModelCallError(BenchError):
    """The evaluated model failed on an item after retries."""


class JudgeError(BenchError):
    """An LLM judge failed, or its answer stayed invalid after one repair."""


class BenchDownloadError(BenchError):
    """A benchmark named on the Hugging Face hub (``hf:owner/name``) that cannot be downloaded
    (offline, no such dataset, access refused) and is not in the local hub cache."""


class LocalModelError(EchoSafeError):
    """The local GGUF model of the ``[local]`` extra cannot be used."""


class LocalModelUnavailableError(LocalModelError):
    """llama-cpp-python, a model part package or the GGUF file is missing."""


class ModelChecksumError(LocalModelError):
    """The GGUF assembled from the part packages does not match its size or sha256."""


class LearningError(EchoSafeError):
    """The learning loop failed on one exchange."""


class ReflectionUnavailableError(LearningError):
    """The reflecting model failed or timed out; worth retrying with backoff."""


class ReflectionInvalidError(LearningError):
    """The reflection did not return a valid insight, even after one repair request."""


class StoreError(EchoSafeError):
    """The insight store failed."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or opened."""


class StoreCorruptError(StoreError):
    """Stored data that cannot be read back."""


class KeyLayoutMismatchError(StoreError):
    """The store was built with a different key layout (embedding models or dimensions)."""


class IndexSchemaMismatchError(StoreError):
    """A vector index whose schema differs from this version's; ``memory reindex`` rebuilds it."""


class StoreCapabilityError(StoreError):
    """An operation the store does not offer; its ``capabilities`` say which ones it does."""
