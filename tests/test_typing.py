"""The package type-checks under ``mypy --strict``.

The repository keeps the folders the product was specified with (``plugin/``,
``callbacks/``, ``middleware/``) and maps them into one namespace at install
time, which mypy cannot follow; the test lays the package out as it is
installed, with links, and checks that tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def installed_layout(target: Path) -> Path:
    package = target / "langgraph_tokenomics"
    package.mkdir()
    for source in (ROOT / "plugin").iterdir():
        if source.suffix == ".py" or source.name == "py.typed":
            (package / source.name).symlink_to(source)
    for folder in ("callbacks", "middleware"):
        (package / folder).symlink_to(ROOT / folder, target_is_directory=True)
    return package


def test_the_package_passes_mypy_strict(tmp_path: Path):
    installed_layout(tmp_path)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "-p",
            "langgraph_tokenomics",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
