"""A scripted LiteLLM provider for tests: real ``litellm.completion`` calls, canned answers.

Registered through ``litellm.custom_provider_map`` as ``scripted/<anything>``. Each call takes
the next step of the script (or asks ``responder`` when the script is empty): a string is the
answer, ``TIMEOUT`` raises ``litellm.Timeout``, ``ERROR`` raises a provider error.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm import CustomLLM

TIMEOUT = "<timeout>"
ERROR = "<error>"


class ScriptedLLM(CustomLLM):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.script: deque[str] = deque()
        self.responder: Callable[[list[dict[str, Any]]], str] | None = None
        self.calls: list[list[dict[str, Any]]] = []
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()

    def _answer(self, messages: list[dict[str, Any]]) -> str:
        if self.gate is not None:
            self.gate.wait(30)
        with self._lock:
            self.calls.append(messages)
            step = self.script.popleft() if self.script else None
        if step is None:
            if self.responder is None:
                raise RuntimeError("script exhausted")
            step = self.responder(messages)
        if step == TIMEOUT:
            raise litellm.Timeout(
                message="scripted timeout", model="scripted", llm_provider="scripted"
            )
        if step == ERROR:
            raise litellm.APIConnectionError(
                message="scripted provider error", model="scripted", llm_provider="scripted"
            )
        return step

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        text = self._answer(kwargs["messages"])
        return litellm.completion(
            model="gpt-4o-mini", messages=kwargs["messages"], mock_response=text
        )

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return self.completion(*args, **kwargs)

    def streaming(self, *args: Any, **kwargs: Any) -> Any:
        text = self._answer(kwargs["messages"])
        words = text.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield {
                "text": word if last else word + " ",
                "is_finished": last,
                "finish_reason": "stop" if last else "",
                "usage": None,
                "index": 0,
                "tool_use": None,
            }

    async def astreaming(self, *args: Any, **kwargs: Any) -> Any:
        for chunk in self.streaming(*args, **kwargs):
            yield chunk


def register() -> ScriptedLLM:
    handler = ScriptedLLM()
    litellm.custom_provider_map = [
        p for p in litellm.custom_provider_map if p.get("provider") != "scripted"
    ] + [{"provider": "scripted", "custom_handler": handler}]
    return handler
