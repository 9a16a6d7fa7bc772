"""Converters from framework message types to :class:`~echosafe_guard.context.Turn` and back.

One module per message format: ``openai`` (OpenAI/LiteLLM chat dicts). Other adapters' converters
live next to it or with their adapter; the core only ever sees turns.
"""

__all__: list[str] = []
