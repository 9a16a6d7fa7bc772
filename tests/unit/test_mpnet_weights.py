"""Joining the all-mpnet-base-v2 split zip: checksum, atomic extraction, reuse, refusal."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from echosafe_guard.exceptions import EmbedderUnavailableError
from echosafe_guard.key import mpnet_weights


def _parts(tmp_path: Path, files: dict[str, bytes]) -> tuple[list[Path], str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    blob = buf.getvalue()
    cut = [0, len(blob) // 3, 2 * len(blob) // 3, len(blob)]
    parts = []
    for i in range(3):
        p = tmp_path / f"part{i}"
        p.write_bytes(blob[cut[i] : cut[i + 1]])
        parts.append(p)
    return parts, hashlib.sha256(blob).hexdigest()


MODEL = {
    "all-mpnet-base-v2/modules.json": b"[]",
    "all-mpnet-base-v2/config.json": b"{}",
    "all-mpnet-base-v2/desktop.ini": b"junk",
}


def test_joins_checks_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, sha = _parts(tmp_path, MODEL)
    calls: list[int] = []

    def fake_parts() -> list[Path]:
        calls.append(1)
        return parts

    monkeypatch.setattr(mpnet_weights, "_part_files", fake_parts)
    monkeypatch.setattr(mpnet_weights, "ZIP_SHA256", sha)
    root = tmp_path / "cache"
    got = mpnet_weights.mpnet_model_dir(root)
    assert (got / "modules.json").read_bytes() == b"[]"
    assert not (got / "desktop.ini").exists()
    assert mpnet_weights.mpnet_model_dir(root) == got and len(calls) == 1  # reused, no rejoin
    assert [p.name for p in root.iterdir() if p.name.startswith(".all-mpnet-base-v2-")] == []


def test_wrong_checksum_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts, _ = _parts(tmp_path, MODEL)
    monkeypatch.setattr(mpnet_weights, "_part_files", lambda: parts)
    root = tmp_path / "cache"
    with pytest.raises(EmbedderUnavailableError, match="SHA-256"):
        mpnet_weights.mpnet_model_dir(root)
    assert not any(p.is_dir() for p in root.iterdir())


def test_unsafe_member_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, sha = _parts(tmp_path, {**MODEL, "../evil.txt": b"x"})
    monkeypatch.setattr(mpnet_weights, "_part_files", lambda: parts)
    monkeypatch.setattr(mpnet_weights, "ZIP_SHA256", sha)
    with pytest.raises(EmbedderUnavailableError, match="unsafe path"):
        mpnet_weights.mpnet_model_dir(tmp_path / "cache")
    assert not (tmp_path / "evil.txt").exists()


def test_missing_part_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mpnet_weights, "PARTS", ("no-such-package-echosafe-test",))
    with pytest.raises(EmbedderUnavailableError, match="not installed"):
        mpnet_weights._part_files()
