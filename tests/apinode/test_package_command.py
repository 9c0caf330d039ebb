"""`deployer-tui package` on the worked example and on folders it must refuse."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployer_tui.core.package import read_package

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-service"


def package(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deployer_tui.cli", "package", str(src), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)


def test_example_builds_a_package_the_node_accepts(tmp_path: Path) -> None:
    done = package(EXAMPLE, tmp_path / "hello.zip")
    assert done.returncode == 0, done.stderr
    assert "version v1" in done.stdout and "score (CUSTOM_PREDICTION)" in done.stdout
    info = read_package(tmp_path / "hello.zip", served_only=True)
    assert [ep["id"] for ep in info.endpoints] == ["hello", "score", "customer"]
    assert set(info.test_queries) == {"hello", "score", "customer"}


@pytest.mark.parametrize("breakage, fragment", [
    (lambda d: (d / "tag.json").write_text(json.dumps({"generationId": "v 1!"})), "Invalid version id"),
    (lambda d: (d / "tag.json").write_text("{oops"), "tag.json is not valid JSON"),
    (lambda d: (d / "tag.json").unlink(), "has no tag.json"),
    (lambda d: (d / "config.json").write_text(json.dumps({"endpoints": [{"id": "r", "type": "R_FUNCTION"}]})),
     None),
    (lambda d: shutil.rmtree(d / "endpoint-hello"), "needs endpoint-hello/code.py"),
])
def test_package_refuses_broken_folders(tmp_path: Path, breakage, fragment: str | None) -> None:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLE, src)
    breakage(src)
    out = tmp_path / "out.zip"
    done = package(src, out)
    if fragment is None:
        # Building accepts any DSS type (a real DSS node may serve it); the node refuses it at import.
        assert done.returncode == 0, done.stderr
        with pytest.raises(ValueError, match="type R_FUNCTION, which this API node cannot serve"):
            read_package(out, served_only=True)
        return
    assert done.returncode == 2
    assert fragment in done.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
