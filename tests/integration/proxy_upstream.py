"""The scripted upstream of the real LiteLLM proxy subprocess (``custom_provider_map``).

Model calls record the messages they receive (JSONL at ``$ECHOSAFE_TEST_UPSTREAM_LOG``) and
answer ``ANSWER: <last user text>``; reflection calls answer a valid insight JSON.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.scripted_llm import ScriptedLLM

INSIGHT = {
    "scenario": "A traveller asks how to carry personal medicine abroad.",
    "intent_signals": ["personal prescription", "compliance with customs"],
    "verdict": "safe",
    "guidance": "Explain documentation and declaration rules clearly.",
    "category": "specialized_advice",
    "confidence": 0.9,
}


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if p.get("type") == "text")
            return str(c)
    return ""


def respond(messages: list[dict[str, Any]]) -> str:
    if "contextual safety memory for an AI assistant" in str(messages[0].get("content")):
        return json.dumps(INSIGHT)
    with open(os.environ["ECHOSAFE_TEST_UPSTREAM_LOG"], "a") as fh:
        fh.write(json.dumps(messages) + "\n")
    return "ANSWER: " + _last_user_text(messages)


handler = ScriptedLLM()
handler.responder = respond
