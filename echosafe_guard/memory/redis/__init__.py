"""The Redis store: ``RedisStore`` and its internals (index, schema, write buffer, errors)."""

from echosafe_guard.memory.redis.redis_schema import RedisIndexSettings
from echosafe_guard.memory.redis.redis_store import RedisStore

__all__ = ["RedisIndexSettings", "RedisStore"]
