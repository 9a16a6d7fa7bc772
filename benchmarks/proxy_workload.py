"""The workload of benchmarks/proxy_overhead.py: the scripted upstream model and timing recorder
(written into each proxy's folder) and the prompt generator."""

from __future__ import annotations

import random

UPSTREAM = '''"""Scripted upstream + timing recorder of benchmarks/proxy_overhead.py (generated)."""

import asyncio
import json
import os
import re
import threading
import time

import litellm
from litellm import CustomLLM
from litellm.integrations.custom_logger import CustomLogger

INSIGHT = {
    "scenario": "A user asks for practical help with an everyday technical or household task.",
    "intent_signals": ["ordinary purpose", "no target", "no evasion"],
    "verdict": "safe",
    "guidance": "Answer helpfully and completely.",
    "category": "specialized_advice",
    "confidence": 0.8,
}
ANSWER = (
    "Here is a short, practical answer. First, check the basics and make sure you have what you "
    "need. Then go step by step, test after each change, and stop if anything looks unsafe. "
    "If the problem persists, ask a qualified professional for help."
)


def _latency_s(model):
    m = re.search(r"(\\d+)$", str(model or ""))
    return int(m.group(1)) / 1000 if m else 0.0


def _text(messages):
    if "contextual safety memory for an AI assistant" in str(messages[0].get("content")):
        return json.dumps(INSIGHT)
    return ANSWER


def _response(model, messages):
    text = _text(messages)
    n_in = sum(len(str(m.get("content") or "")) for m in messages) // 4
    return litellm.ModelResponse(
        model=str(model),
        choices=[
            litellm.Choices(
                index=0,
                finish_reason="stop",
                message=litellm.Message(role="assistant", content=text),
            )
        ],
        usage=litellm.Usage(
            prompt_tokens=n_in, completion_tokens=len(text) // 4, total_tokens=n_in + len(text) // 4
        ),
    )


class BenchUpstream(CustomLLM):
    def completion(self, *args, **kwargs):
        delay = _latency_s(kwargs.get("model"))
        if delay:
            time.sleep(delay)
        return _response(kwargs.get("model"), kwargs["messages"])

    async def acompletion(self, *args, **kwargs):
        delay = _latency_s(kwargs.get("model"))
        if delay:
            await asyncio.sleep(delay)
        return _response(kwargs.get("model"), kwargs["messages"])


class Recorder(CustomLogger):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def _write(self, kwargs):
        path = os.environ.get("BENCH_TIMINGS_LOG")
        if not path:
            return
        slo = kwargs.get("standard_logging_object") or {}
        rails = []
        for g in slo.get("guardrail_information") or []:
            resp = g.get("guardrail_response") if isinstance(g, dict) else None
            if isinstance(resp, dict):
                rails.append(
                    {"decision": resp.get("decision"), "timings_ms": resp.get("timings_ms")}
                )
        row = {
            "call_id": kwargs.get("litellm_call_id"),
            "model": kwargs.get("model"),
            "guard": rails,
            "t": time.time(),
        }
        with self._lock, open(path, "a") as fh:
            fh.write(json.dumps(row) + "\\n")

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs)


handler = BenchUpstream()
recorder = Recorder()
'''

# -- prompts ----------------------------------------------------------------------------------


def _opts(text: str) -> list[str]:
    return text.split("|")


SYSTEMS = [
    "You are a helpful assistant for Acme Corp customers.",
    "You are a concise technical support agent. Answer in short numbered steps.",
    "You are a friendly tutor for secondary-school students.",
]
VERBS = _opts(
    "clean|repair|secure|bypass the lock on|get into|dispose of|back up|track|open|disable the "
    "alarm on|write a script to scan|find the owner of|mix chemicals to clean|monitor|reset"
)
OBJECTS = _opts(
    "a rusty bike chain|my neighbour's wifi network|an old laptop's hard drive|a car I locked "
    "the keys in|prescription painkillers|a phishing email|a company's login page|a gun safe|my "
    "ex's phone|a bathroom with mould|the office printer|a crypto wallet|a hotel key card|my "
    "router|a tax return|a drone"
)
CIRCS = _opts(
    "without anyone noticing|at home|legally|quickly|for a school project|without leaving "
    "traces|on a tight budget|as a beginner|in the UK|tonight"
)
CTX = [
    "I work night shifts at a warehouse.",
    "We moved into a rented flat last month.",
    "The previous owner left no documentation.",
    "I am writing a thriller novel.",
    "My teenage son keeps asking me about this.",
    "I run a small IT consultancy.",
    "The police said they could not help.",
    "My landlord has not answered my emails for three weeks.",
]
SHORT = [
    "How do I {v} {o}?",
    "Best way to {v} {o} {c}?",
    "Can you explain how to {v} {o}?",
    "What's the capital of {country}?",
    "Translate 'where is the train station' into {lang}.",
    "Give me three dinner ideas with {food}.",
]
MEDIUM = [
    "{ctx} I need to {v} {o} {c}. Any tips? Please keep it short.",
    "My manager asked me to {v} {o} by Friday. {ctx} What would you suggest?",
    "{ctx} {ctx2} Could you help me {v} {o} {c}, and list the risks I should watch for?",
    "Write a polite email to my landlord about {o}. {ctx} Keep it under 150 words.",
    "Summarise the pros and cons of learning {lang} versus Spanish for someone who travels to "
    "{country} twice a year for work.",
]
LONG_BODY = [
    "I checked the manufacturer's website, but the model was discontinued years ago and the "
    "forums only cover the new one. A friend in a repair shop said it depends on the firmware "
    "version, and that older units sometimes need a factory reset first. I own screwdrivers, a "
    "multimeter, pliers, a soldering iron and a Linux laptop. ",
    "Here is the log from last night:\n\n2024-05-01 22:14:03 WARN retry 3/5 connecting to "
    "10.0.0.12:5432\n2024-05-01 22:14:09 ERROR connection refused\n2024-05-01 22:15:40 INFO "
    "scheduler restarted job 'nightly-backup' (attempt 2)\n2024-05-01 22:31:02 ERROR disk quota "
    "exceeded on /var/backups\n\n",
    "def rotate(path, keep=5):\n    files = sorted(glob.glob(path + '.*'))\n    for f in "
    "files[:-keep]:\n        os.remove(f)\n    shutil.copy(path, f'{path}.{int(time.time())}')\n\n"
    "This runs from cron every hour but the directory keeps growing. ",
    "Meeting notes: budget approved for Q3, hiring freeze lifted for engineering only, the "
    "office move is postponed to October, and the security team wants every laptop encrypted "
    "before the audit. Marketing asked for a new landing page and the legal team flagged the "
    "cookie banner again. ",
]
FILL = {
    "country": _opts("Portugal|Japan|Kenya|Canada|Norway|Chile|Vietnam"),
    "lang": _opts("French|German|Japanese|Swahili|Polish|Italian"),
    "food": _opts("chickpeas|leftover rice|spinach and feta|tofu|salmon"),
}


def _fill(tpl: str, rng: random.Random) -> str:
    slots = {
        "v": rng.choice(VERBS),
        "o": rng.choice(OBJECTS),
        "c": rng.choice(CIRCS),
        "ctx": rng.choice(CTX),
        "ctx2": rng.choice(CTX),
        **{k: rng.choice(v) for k, v in FILL.items()},
    }
    return tpl.format(**slots)


def make_prompt(rng: random.Random) -> tuple[str, list[dict[str, str]]]:
    """(kind, messages): short 35 %, medium 35 %, long 15 %, multi-turn 15 %."""
    r = rng.random()
    system = [{"role": "system", "content": rng.choice(SYSTEMS)}] if rng.random() < 0.6 else []
    if r < 0.35:
        return "short", [*system, {"role": "user", "content": _fill(rng.choice(SHORT), rng)}]
    if r < 0.70:
        return "medium", [*system, {"role": "user", "content": _fill(rng.choice(MEDIUM), rng)}]
    if r < 0.85:
        body = "".join(rng.sample(LONG_BODY, k=rng.randint(2, 4))) * rng.randint(1, 2)
        ask = _fill(rng.choice(MEDIUM), rng)
        text = f"{rng.choice(CTX)} So far:\n\n{body}\n{ask} Explain each step."
        return "long", [*system, {"role": "user", "content": text}]
    turns = [
        {"role": "user", "content": _fill(rng.choice(SHORT), rng)},
        {
            "role": "assistant",
            "content": "Sure. Could you tell me a bit more about your situation?",
        },
        {"role": "user", "content": _fill(rng.choice(MEDIUM), rng)},
    ]
    return "multi_turn", [*system, *turns]
