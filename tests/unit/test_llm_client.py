"""Tests of the shared LLM-call helpers in echosafe_guard.llm_client: ``ask_json`` (strict JSON
with one repair turn) and ``call_with_retries`` (exponential backoff), each with its async twin.
The LiteLLM path through them is covered by test_learning.py and test_llm_judge.py."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest

from echosafe_guard.exceptions import (
    ConfigError,
    EchoSafeError,
    JudgeError,
    ReflectionInvalidError,
    ReflectionUnavailableError,
)
from echosafe_guard.llm_client import (
    aask_json,
    acall_with_retries,
    ask_json,
    call_with_retries,
    json_object,
)

Messages = list[dict[str, str]]
FIRST: Messages = [{"role": "system", "content": "grade"}, {"role": "user", "content": "q"}]
REPAIR = "Bad ({error}). Reply with only JSON."


class Model:
    """Answers each conversation with the next scripted text and records what it was sent."""

    def __init__(self, *answers: str) -> None:
        self.answers = deque(answers)
        self.calls: list[Messages] = []

    def __call__(self, messages: Messages) -> str:
        self.calls.append(messages)
        return self.answers.popleft()

    async def acall(self, messages: Messages) -> str:
        await asyncio.sleep(0)
        return self(messages)


def parse(text: str) -> int:
    value = json_object(text).get("n")
    if not isinstance(value, int):
        raise ValueError(f"n must be an integer, got {value!r}")
    return value


def ask(model: Model) -> int:
    return ask_json(model, FIRST, parse, repair=REPAIR, invalid=JudgeError, what="answer")


async def aask(model: Model) -> int:
    return await aask_json(
        model.acall, FIRST, parse, repair=REPAIR, invalid=JudgeError, what="answer"
    )


def test_valid_answer_needs_one_call() -> None:
    model = Model('{"n": 3}')
    assert ask(model) == 3
    assert model.calls == [FIRST]


def test_invalid_answer_gets_exactly_one_repair_turn() -> None:
    model = Model('{"n": "three"}', 'Sure: {"n": 3}')
    assert ask(model) == 3
    first, repair = model.calls
    assert first == FIRST
    assert repair[:2] == FIRST
    assert repair[2] == {"role": "assistant", "content": '{"n": "three"}'}
    assert repair[3]["role"] == "user"
    assert repair[3]["content"].startswith("Bad (n must be an integer, got 'three')")
    assert repair[3]["content"].endswith("Reply with only JSON.")
    assert len(repair) == 4


def test_invalid_twice_raises_the_typed_error() -> None:
    model = Model("no json here", '{"m": 1}', '{"n": 1}')
    with pytest.raises(ReflectionInvalidError, match="reflection invalid after one repair"):
        ask_json(
            model, FIRST, parse, repair=REPAIR, invalid=ReflectionInvalidError, what="reflection"
        )
    assert len(model.calls) == 2  # one call and one repair, never a third
    assert len(model.answers) == 1


def test_repair_quotes_a_long_bad_answer_and_error_shortened() -> None:
    long = "x" * 5000
    model = Model(long, '{"n": 0}')
    assert ask(model) == 0
    assert len(model.calls[1][2]["content"]) == 2000


def test_errors_of_the_call_pass_through_unrepaired() -> None:
    def broken(messages: Messages) -> str:
        raise ReflectionUnavailableError("down")

    with pytest.raises(ReflectionUnavailableError, match="down"):
        ask_json(broken, FIRST, parse, repair=REPAIR, invalid=JudgeError, what="answer")


def test_async_twin_repairs_once_and_then_raises() -> None:
    model = Model('{"n": null}', '{"n": 7}')
    assert asyncio.run(aask(model)) == 7
    assert len(model.calls) == 2 and model.calls[1][2]["content"] == '{"n": null}'

    bad = Model("{", "}")
    with pytest.raises(JudgeError, match="answer invalid after one repair"):
        asyncio.run(aask(bad))
    assert len(bad.calls) == 2


# -- retries -------------------------------------------------------------------------------------


class Flaky:
    def __init__(self, *steps: Any) -> None:
        self.steps = deque(steps)
        self.n = 0

    def __call__(self) -> Any:
        self.n += 1
        step = self.steps.popleft()
        if isinstance(step, Exception):
            raise step
        return step

    async def acall(self) -> Any:
        return self()


def test_retries_back_off_exponentially_then_succeed() -> None:
    slept: list[float] = []
    seen: list[Exception] = []
    call = Flaky(OSError("a"), OSError("b"), "ok")
    got = call_with_retries(
        call, attempts=3, backoff_s=0.5, on_error=seen.append, sleep=slept.append
    )
    assert got == "ok" and call.n == 3
    assert slept == [0.5, 1.0]
    assert [str(e) for e in seen] == ["a", "b"]


def test_last_failure_is_wrapped_or_raised_as_itself() -> None:
    def wrap(exc: Exception) -> EchoSafeError:
        return JudgeError(f"wrapped {exc}")

    with pytest.raises(JudgeError, match="wrapped c") as info:
        call_with_retries(
            Flaky(OSError("a"), OSError("b"), OSError("c")),
            attempts=3,
            backoff_s=0,
            wrap=wrap,
            sleep=lambda _s: None,
        )
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(ReflectionUnavailableError, match="y"):
        call_with_retries(
            Flaky(ReflectionUnavailableError("x"), ReflectionUnavailableError("y")),
            attempts=2,
            backoff_s=0,
            sleep=lambda _s: None,
        )


def test_only_retry_on_is_retried_and_keep_is_raised_at_once() -> None:
    call = Flaky(ReflectionInvalidError("bad"), "ok")
    with pytest.raises(ReflectionInvalidError):
        call_with_retries(
            call,
            attempts=3,
            backoff_s=0,
            retry_on=(ReflectionUnavailableError,),
            sleep=lambda _s: None,
        )
    assert call.n == 1
    call = Flaky(JudgeError("no message"), "ok")
    with pytest.raises(JudgeError):
        call_with_retries(call, attempts=3, backoff_s=0, keep=(JudgeError,))
    assert call.n == 1


def test_attempts_below_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        call_with_retries(lambda: 1, attempts=0, backoff_s=0)
    with pytest.raises(ConfigError):
        asyncio.run(acall_with_retries(Flaky(1).acall, attempts=0, backoff_s=0))


def test_async_retries_count_every_failure() -> None:
    seen: list[Exception] = []
    call = Flaky(OSError("a"), 5)
    got = asyncio.run(acall_with_retries(call.acall, attempts=2, backoff_s=0, on_error=seen.append))
    assert got == 5 and len(seen) == 1
    with pytest.raises(OSError, match="b"):
        asyncio.run(
            acall_with_retries(Flaky(OSError("a"), OSError("b")).acall, attempts=2, backoff_s=0)
        )
