"""The memory of safety insights.

* ``base``: the ``InsightStore`` Protocol, its declared ``StoreCapabilities`` and the checks
  every store applies; ``insight``: the records;
* ``store_base``: ``StoreBase``, what the stores share (async twins, stats, health);
* ``local/``: ``LocalStore``, the embedded default; ``redis/``: ``RedisStore``.
"""
