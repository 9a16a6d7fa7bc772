"""The Redis index schema and the hash-document encoding used by ``RedisStore``."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from echosafe_guard.exceptions import StoreCorruptError
from echosafe_guard.memory.insight import Insight, SearchFilter

__all__ = [
    "AUTO_EF_RUNTIME",
    "REDIS_SCHEMA_VERSION",
    "RedisIndexSettings",
    "decode_doc",
    "encode_doc",
    "expected_schema",
    "index_fields",
    "schema_of_info",
    "tag_query",
    "tenant_tag",
]

REDIS_SCHEMA_VERSION = 1

AUTO_EF_RUNTIME = ((100_000, 50), (250_000, 100), (500_000, 200), (None, 400))
"""``ef_runtime=auto``: (index size up to, EF_RUNTIME), the first row that holds wins. Measured
with ``benchmarks/store_scale.py`` on clustered 1280-d FLOAT16 keys (docs/deployment.md, "What
to size"), recall@10: 100k 0.975 with 50 (100: 0.996); 300k 0.969 with 100 (200: 0.991); 1M
0.942 with 200, 0.980 with 400. Each step keeps recall near 0.97 or above (250k and 500k are
interpolated). A fixed EF_RUNTIME loses recall as the index grows: a guard that misses its
nearest unsafe insight fails quietly, so the default follows the size."""


class RedisIndexSettings(BaseModel):
    """HNSW parameters and vector type of the index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vector_type: Literal["FLOAT32", "FLOAT16"] = "FLOAT32"
    m: Annotated[int, Field(ge=2, le=512)] = 16
    ef_construction: Annotated[int, Field(ge=1)] = 200
    ef_runtime: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """EF_RUNTIME of every query; ``auto`` (the default): by the index's size, from
    :data:`AUTO_EF_RUNTIME`."""
    batches_min_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    """A tenant holding at least this share of the index is searched with HYBRID_POLICY
    BATCHES; smaller tenants are left to RediSearch's planner."""

    def ef_for(self, size: int, k: int = 1) -> int:
        """EF_RUNTIME for a query of ``k`` neighbours over an index of ``size`` documents."""
        if self.ef_runtime != "auto":
            return max(self.ef_runtime, k)
        ef = next(e for limit, e in AUTO_EF_RUNTIME if limit is None or size <= limit)
        return max(ef, k)

    @property
    def numpy_dtype(self) -> str:
        return "<f4" if self.vector_type == "FLOAT32" else "<f2"


def tenant_tag(tenant: str) -> str:
    """A query-safe tag for a tenant name (no escaping needed, fixed length)."""
    return hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:24]


def _escape(value: str) -> str:
    return re.sub(r"([^A-Za-z0-9_])", r"\\\1", value)


def tag_query(tenant: str, filters: SearchFilter) -> str:
    """The pre-filter of the KNN query: tenant, status and optional category/verdict."""
    parts = [f"@tenant:{{{tenant_tag(tenant)}}}"]
    parts.append("@status:{" + "|".join(sorted(_escape(s.value) for s in filters.statuses)) + "}")
    if filters.categories is not None:
        parts.append("@category:{" + "|".join(sorted(_escape(c) for c in filters.categories)) + "}")
    if filters.verdicts is not None:
        parts.append("@verdict:{" + "|".join(sorted(v.value for v in filters.verdicts)) + "}")
    return " ".join(parts)


def index_fields(dim: int, settings: RedisIndexSettings) -> list[Any]:
    from redis.commands.search.field import NumericField, TagField, VectorField

    return [
        TagField("tenant"),
        TagField("category"),
        TagField("verdict"),
        TagField("status"),
        NumericField("support"),
        NumericField("confidence"),
        NumericField("updated"),
        VectorField(
            "vec",
            "HNSW",
            {
                "TYPE": settings.vector_type,
                "DIM": dim,
                "DISTANCE_METRIC": "COSINE",
                "M": settings.m,
                "EF_CONSTRUCTION": settings.ef_construction,
                # The index's own default; every query passes its EF_RUNTIME (``ef_for``).
                "EF_RUNTIME": settings.ef_for(0),
            },
        ),
    ]


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


_COMPARED = ("type", "algorithm", "data_type", "dim", "distance_metric", "m", "ef_construction")


def expected_schema(dim: int, settings: RedisIndexSettings) -> dict[str, dict[str, str]]:
    """The schema ``index_fields`` creates, in the form :func:`schema_of_info` reads."""
    out = {name: {"type": "TAG"} for name in ("tenant", "category", "verdict", "status")}
    out |= {name: {"type": "NUMERIC"} for name in ("support", "confidence", "updated")}
    out["vec"] = {
        "type": "VECTOR",
        "algorithm": "HNSW",
        "data_type": settings.vector_type,
        "dim": str(dim),
        "distance_metric": "COSINE",
        "m": str(settings.m),
        "ef_construction": str(settings.ef_construction),
    }
    return out


def schema_of_info(info: Any) -> dict[str, dict[str, str]]:
    """A comparable form of an index schema from ``FT.INFO``: attribute → compared properties.

    FT.INFO lists attributes like ``["identifier", "vec", "attribute", "vec", "type", "VECTOR",
    "algorithm", "HNSW", "data_type", "FLOAT32", "dim", 8, ...]``. EF_RUNTIME is a query-time
    setting and not compared.
    """
    out: dict[str, dict[str, str]] = {}
    attrs = info.get("attributes") if isinstance(info, dict) else None
    for attr in attrs or []:
        items = [_s(a) for a in attr]
        pairs = dict(zip(items[::2], items[1::2], strict=False))
        name = pairs.get("attribute", pairs.get("identifier", "?"))
        out[name] = {k.lower(): v.upper() for k, v in pairs.items() if k.lower() in _COMPARED}
    return out


def encode_doc(ins: Insight, settings: RedisIndexSettings) -> dict[str, Any]:
    assert ins.vector is not None
    return {
        "tenant": tenant_tag(ins.tenant),
        "category": ins.category,
        "verdict": ins.verdict.value,
        "status": ins.status.value,
        "support": ins.support,
        "confidence": ins.confidence,
        "updated": ins.updated.timestamp(),
        "rec": ins.model_dump_json(exclude={"vector"}),
        "vec": np.asarray(ins.vector, dtype=settings.numpy_dtype).tobytes(),
    }


def decode_doc(data: dict[Any, Any], settings: RedisIndexSettings, *, with_vector: bool) -> Insight:
    fields = {_s(k): v for k, v in data.items()}
    try:
        ins = Insight.model_validate_json(fields["rec"])
        if with_vector:
            vec = np.frombuffer(fields["vec"], dtype=settings.numpy_dtype).astype(np.float32)
            ins = ins.model_copy(update={"vector": tuple(float(x) for x in vec)})
    except (KeyError, ValueError) as exc:
        raise StoreCorruptError(f"unreadable insight document: {exc}") from exc
    return ins
