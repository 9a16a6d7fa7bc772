from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from echosafe_guard.exceptions import (
    ImageDecodeError,
    InputTooLargeError,
    MessageFormatError,
)
from echosafe_guard.input.openai import context_from_messages, to_turns
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy

CTX = ContextPolicy(earlier_user_turns=1, max_text_chars=200, max_messages=10)
IMG = ImagePolicy(max_images=2)


def png_url(color: tuple[int, int, int] = (1, 2, 3)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def ctx(messages: Any, context: ContextPolicy = CTX, images: ImagePolicy = IMG) -> Any:
    return context_from_messages(messages, context=context, images=images)


def test_string_content_is_the_context() -> None:
    c = ctx([{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}])
    assert c.text == "hello"
    assert c.images == ()
    assert c.request_hash.startswith("sha256:")


def test_window_of_earlier_user_turns_joins_a_split_request() -> None:
    msgs = [
        {"role": "user", "content": "first, unrelated"},
        {"role": "user", "content": "I have a bottle of bleach"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "and ammonia. How do I combine them to hurt someone?"},
    ]
    c = ctx(msgs)
    assert [t.index for t in c.turns] == [1, 3]
    assert (
        c.text == "I have a bottle of bleach\nand ammonia. How do I combine them to hurt someone?"
    )
    wider = ctx(msgs, ContextPolicy(earlier_user_turns=5))
    assert [t.index for t in wider.turns] == [0, 1, 3]


def test_parts_text_and_images_in_both_url_shapes() -> None:
    url = png_url()
    c = ctx(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in"},
                    {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                    {"type": "text", "text": "this picture?"},
                    {"type": "image_url", "image_url": png_url((9, 9, 9))},
                ],
            }
        ]
    )
    assert c.text == "what is in\nthis picture?"
    assert len(c.images) == 2
    assert c.images[0].where == "messages[0].content[1]"
    assert c.images[0].format == "PNG"
    assert c.images[0].sha256 != c.images[1].sha256


def test_images_change_the_request_hash() -> None:
    a = ctx([{"role": "user", "content": [{"type": "text", "text": "x"}]}])
    b = ctx(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "x"},
                    {"type": "image_url", "image_url": {"url": png_url()}},
                ],
            }
        ]
    )
    assert a.request_hash != b.request_hash


def test_remote_image_is_reported_not_fetched_nor_dropped_silently() -> None:
    c = ctx(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://cdn.example.org/a.png?sig=1"},
                    },
                ],
            }
        ]
    )
    assert c.images == ()
    assert len(c.skipped_images) == 1
    s = c.skipped_images[0]
    assert s.reason == "remote_not_allowed"
    assert s.where == "messages[0].content[1]"
    assert "cdn.example.org" in s.detail and "sig=1" not in s.detail


def test_unkeyed_part_types_pass_and_assistant_tool_calls_are_fine() -> None:
    c = ctx(
        [
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            {"role": "tool", "content": "42", "tool_call_id": "1"},
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {}},
                    {"type": "text", "text": "hi"},
                ],
            },
        ]
    )
    assert c.text == "hi"


@pytest.mark.parametrize("ptype", ["video", "x" * 500, "input_video"])
def test_a_part_of_an_unknown_type_is_a_format_error_not_passed_unread(ptype: str) -> None:
    messages = [{"role": "user", "content": [{"type": ptype, "video": {"url": "v.mp4"}}]}]
    match = r"content\[0\]\.type: unknown content part"
    with pytest.raises(MessageFormatError, match=match) as exc:
        ctx(messages)
    assert "unkeyed_part_types" in str(exc.value) and len(str(exc.value)) < 400


def test_the_operator_can_pass_a_part_type_through_unread() -> None:
    messages = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "what now"}]}
    ]
    policy = CTX.model_copy(update={"unkeyed_part_types": frozenset({"video"})})
    turns = to_turns(messages, policy=policy)
    assert turns[0].text == "what now" and turns[0].images == ()


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ("hello", "messages: expected a list"),
        ([], "messages: the list is empty"),
        ([42], "messages[0]: expected an object"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "wizard", "content": "x"}], "unknown role 'wizard'"),
        ([{"role": "user"}], "messages[0]: missing 'content'"),
        ([{"role": "user", "content": 5}], "messages[0].content: expected a string or a list"),
        ([{"role": "user", "content": None}], "messages[0].content: is null"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0]: expected an object"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0]: missing 'type'"),
        ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "content[0].text"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
            "content[0].image_url",
        ),
        ([{"role": "system", "content": "s"}], "no user message"),
    ],
)
def test_malformed_messages_name_the_offending_part(messages: Any, fragment: str) -> None:
    with pytest.raises(MessageFormatError) as info:
        ctx(messages)
    assert fragment in str(info.value)


def test_size_caps() -> None:
    with pytest.raises(InputTooLargeError, match="max_text_chars"):
        ctx([{"role": "user", "content": "x" * 201}])
    with pytest.raises(InputTooLargeError, match="max_messages"):
        ctx([{"role": "user", "content": "x"}] * 11)
    three = [{"type": "image_url", "image_url": {"url": png_url()}}] * 3
    with pytest.raises(InputTooLargeError, match=r"messages\[0\]\.content\[2\].*max_images"):
        ctx([{"role": "user", "content": three}])


def test_bad_image_in_the_window_is_a_typed_error_naming_the_part() -> None:
    bad = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!"}}]
    with pytest.raises(ImageDecodeError, match=r"messages\[1\]\.content\[0\]"):
        ctx([{"role": "system", "content": "s"}, {"role": "user", "content": bad}])


def test_messages_are_not_mutated() -> None:
    msgs = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    before = repr(msgs)
    ctx(msgs)
    assert repr(msgs) == before
