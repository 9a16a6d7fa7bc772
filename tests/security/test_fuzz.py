"""Hypothesis fuzzing of every input surface: only typed errors (``EchoSafeError``) escape.

Short in CI (a few hundred examples each); ``benchmarks/adversarial.py`` runs >= 10,000 cases
per target."""

from __future__ import annotations

import contextlib
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from echosafe_guard.cli.app import app
from echosafe_guard.exceptions import EchoSafeError, ImageError, InputError
from echosafe_guard.images import image_from_bytes, open_rgb
from echosafe_guard.input import to_context
from echosafe_guard.learning.sanitize import addresses_model, clean_text
from echosafe_guard.paired import read_paired_jsonl
from echosafe_guard.policy.loader import load_policy, parse_policy
from tests.security.imaging import png_declaring

POLICY = load_policy()
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "audio", ""])},
    optional={"text": json_values, "image_url": json_values},
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", "x"])},
        optional={"content": st.one_of(st.text(), st.lists(parts, max_size=3), json_values)},
    ),
    max_size=5,
)


@FAST
@given(msgs=st.one_of(messages, json_values))
def test_messages_give_a_context_or_a_typed_error(msgs: Any) -> None:
    with contextlib.suppress(EchoSafeError):
        to_context(msgs, POLICY)


def _seed_images() -> list[bytes]:
    out = []
    for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
        buf = BytesIO()
        Image.new("RGB", (17, 9), (1, 2, 3)).save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()


@FAST
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.integers(1, 10_000),
)
def test_mutated_images_decode_or_raise_an_image_error(
    seed: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(seed)
    for pos, val in flips:
        data[pos % len(data)] = val
    try:
        img = image_from_bytes(
            bytes(data[:cut]), where="f", source="data_url", policy=POLICY.images
        )
        open_rgb(img)
    except ImageError:
        pass


@FAST
@given(w=st.integers(1, 2**31 - 1), h=st.integers(1, 2**31 - 1))
def test_declared_sizes_past_any_cap_are_refused_from_the_header(w: int, h: int) -> None:
    caps = POLICY.images
    ok = w * h <= caps.max_pixels and max(w, h) <= caps.max_side
    ok = ok and max(w, h) / min(w, h) <= caps.max_aspect
    try:
        image_from_bytes(png_declaring(w, h), where="f", source="data_url", policy=caps)
    except ImageError:
        return
    assert ok, (w, h)


@FAST
@given(text=st.text(max_size=400))
def test_the_policy_parser_raises_only_typed_errors(text: str) -> None:
    with contextlib.suppress(EchoSafeError):
        parse_policy(text)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(st.one_of(st.text(max_size=80), json_values.map(str)), max_size=6))
def test_the_paired_loader_raises_only_typed_errors(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines), "utf-8", errors="surrogatepass")
    with contextlib.suppress(EchoSafeError):
        read_paired_jsonl(path)


@FAST
@given(text=st.text(max_size=300))
def test_clean_text_output_is_one_line_without_markup(text: str) -> None:
    out = clean_text(text, 200)
    assert len(out) <= 200
    assert not any(c in out for c in "<>`\n\r\t\x00")
    assert clean_text(out, 200) == out  # idempotent
    addresses_model(text)  # never raises


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tenant=st.text(max_size=300))
def test_the_cli_answers_any_tenant_with_a_result_or_exit_2(tmp_path: Path, tenant: str) -> None:
    if "\x00" in tenant:  # an argv entry cannot hold NUL
        tenant = tenant.replace("\x00", "")
    env = {"ECHOSAFE_STORE": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1"}
    res = CliRunner().invoke(app, ["memory", "review", "--json", "--tenant", tenant], env=env)
    assert res.exit_code in (0, 2), (tenant, res.output, res.exception)
    assert "Traceback" not in res.output


def test_prepare_rejects_bad_tenants_with_input_error(tmp_path: Path) -> None:
    from tests.security.helpers import make_guard

    guard = make_guard(tmp_path)
    for tenant in (None, 3, "", "x" * 129, "\ud800", "a\nb"):
        with pytest.raises(InputError):
            guard.prepare([{"role": "user", "content": "hi"}], tenant=tenant)  # type: ignore[arg-type]
    guard.close()
