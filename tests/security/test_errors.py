"""Low items: typed errors from the public API and one message with exit 2 from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from echosafe_guard.cli.app import app
from echosafe_guard.exceptions import DataFormatError, InputError, PolicyError
from echosafe_guard.paired import read_paired_jsonl
from echosafe_guard.policy.loader import load_policy
from tests.security.helpers import make_guard

MSGS = [{"role": "user", "content": "hello there"}]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tenant": None},
        {"tenant": "\ud800"},
        {"tenant": ""},
        {"tenant": "t" * 200},
        {"mode": "bogus"},
    ],
)
def test_prepare_arguments_raise_typed_errors(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    guard = make_guard(tmp_path)
    with pytest.raises(InputError):
        guard.prepare(MSGS, **kwargs)
    guard.close()


def test_a_lone_surrogate_in_text_is_an_input_error(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    with pytest.raises(InputError, match="not valid Unicode"):
        guard.prepare([{"role": "user", "content": "abc \ud800 def"}])
    guard.close()


@pytest.mark.parametrize("tenant", ["", "t" * 200, "a\x00b"])
def test_cli_bad_tenant_is_one_message_and_exit_2(tmp_path: Path, tenant: str) -> None:
    env = {"ECHOSAFE_STORE": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1"}
    res = CliRunner().invoke(app, ["memory", "review", "--tenant", tenant], env=env)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "tenant" in res.output


def test_devices_are_refused_without_reading_them() -> None:
    with pytest.raises(PolicyError, match="not a regular file"):
        load_policy("/dev/zero")
    with pytest.raises(DataFormatError, match="not a regular file"):
        read_paired_jsonl("/dev/zero")


def test_cli_import_of_dev_zero_is_exit_2(tmp_path: Path) -> None:
    env = {"ECHOSAFE_STORE": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1"}
    res = CliRunner().invoke(app, ["memory", "import", "/dev/zero", "--json"], env=env)
    assert res.exit_code == 2, res.output
    assert "not a regular file" in res.output
