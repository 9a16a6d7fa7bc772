"""The LangChain and LlamaIndex adapters in front of the real local model (Qwen2.5-Coder-1.5B
GGUF through LiteLLM's ``local/`` provider, the ``[local]`` extra): one test per adapter.

Neither framework ships a LiteLLM chat model in its core package, so the tests wrap
``litellm.completion`` in each framework's own extension point (``BaseChatModel``,
``CustomLLM``), converting messages with the framework's own helpers. Generations stay short
(``max_tokens`` 16). Skipped when the ``[local]`` extra is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_local_model as local

MODEL = local.MODEL
# test_local_model.py's session fixture (the model loaded once), registered here as
# ``local_model`` (pytest names a fixture by the module attribute that holds it).
local_model = local.litellm_local

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_TOKENS = 16


def test_langchain_guarded_local_model(local_model: Any, tmp_path: Path) -> None:
    from echosafe_guard.integrations.langchain import guarded
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        HumanMessage,
        SystemMessage,
        convert_to_openai_messages,
    )
    from langchain_core.outputs import ChatGeneration, ChatResult

    from echosafe_guard.block import BEGIN
    from tests.frameworks import TENANT, UNSAFE, make_guard

    sent: list[list[dict[str, Any]]] = []

    class LocalChat(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "echosafe-local-test"

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            openai = convert_to_openai_messages(messages)
            sent.append(openai)
            resp = local_model.completion(
                model=MODEL, messages=openai, max_tokens=MAX_TOKENS, temperature=0, seed=1
            )
            text = resp.choices[0].message.content or ""
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    guard, reflector = make_guard(tmp_path)
    chat = LocalChat()
    answer = guarded(chat, guard=guard, tenant=TENANT).invoke(
        [SystemMessage("Answer in one short sentence."), HumanMessage(UNSAFE)]
    )
    assert answer.text.strip()
    assert answer.response_metadata["echosafe"]["decision"] == "caution"
    system = sent[0][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Answer in one short sentence.\n\n" + BEGIN)
    guard.close()
    assert reflector.exchanges[0].response_text == answer.text


def test_llamaindex_query_engine_local_model(local_model: Any, tmp_path: Path) -> None:
    from echosafe_guard.integrations.llamaindex import EchoSafeNodePostprocessor
    from llama_index.core import VectorStoreIndex
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        CompletionResponse,
        LLMMetadata,
        MessageRole,
    )
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import CustomLLM
    from llama_index.core.schema import TextNode

    from echosafe_guard.block import BEGIN
    from tests.frameworks import TENANT, UNSAFE, make_guard

    prompts: list[str] = []

    class LocalLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(num_output=MAX_TOKENS, context_window=4096, is_chat_model=True)

        def _ask(self, messages: list[dict[str, str]]) -> str:
            resp = local_model.completion(
                model=MODEL, messages=messages, max_tokens=MAX_TOKENS, temperature=0, seed=1
            )
            return str(resp.choices[0].message.content or "")

        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            sent = [{"role": m.role.value, "content": m.content or ""} for m in messages]
            prompts.append("\n".join(m["content"] for m in sent))
            text = self._ask(sent)
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            prompts.append(prompt)
            return CompletionResponse(text=self._ask([{"role": "user", "content": prompt}]))

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any) -> Any:
            yield self.complete(prompt)

    guard, _ = make_guard(tmp_path)
    docs = ["Travellers must declare prescription medicine at customs.", "Paris is in France."]
    index = VectorStoreIndex(
        [TextNode(text=t) for t in docs], embed_model=MockEmbedding(embed_dim=8)
    )
    engine = index.as_query_engine(
        llm=LocalLLM(), node_postprocessors=[EchoSafeNodePostprocessor(guard=guard, tenant=TENANT)]
    )
    response = engine.query(UNSAFE)
    assert str(response).strip()
    assert response.source_nodes[0].node.get_content().startswith(BEGIN)
    assert prompts and BEGIN in prompts[0]  # the model read the guard's node in its context
