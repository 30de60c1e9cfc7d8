"""The reference pages build (`mkdocs build --strict`: no broken link or anchor, no page outside the nav) and
docs/layout.md names every module of the package and every top-level entry of the repository."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from steerlab.config import REPO_ROOT

MKDOCS = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
TOP_LEVEL_SKIP = {"site", "outputs", "multirun"}  # build output and run folders, git-ignored


@pytest.mark.skipif(MKDOCS is None, reason="mkdocs-material is in the dev extra: bash scripts/setup.sh")
def test_the_docs_build_strict(tmp_path):
    out = subprocess.run(
        [MKDOCS, "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "site" / "layout" / "index.html").is_file()


def layout_words() -> set[str]:
    (block,) = re.findall(r"```\n(.*?)```", (REPO_ROOT / "docs" / "layout.md").read_text(), flags=re.S)
    return set(re.findall(r"[\w.]+", block.replace("/", " ")))


def test_the_layout_page_names_every_module():
    words = layout_words()
    modules = [p for p in (REPO_ROOT / "steerlab").rglob("*.py") if p.name != "__init__.py"]
    missing = sorted(str(p.relative_to(REPO_ROOT)) for p in modules if p.stem not in words and p.name not in words)
    assert not missing, f"docs/layout.md does not name: {missing}"


def test_the_layout_page_names_every_top_level_entry():
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    top = {p.split("/")[0] for p in listed if not p.startswith(".")} - TOP_LEVEL_SKIP
    words = layout_words()
    missing = sorted(t for t in top if t not in words)
    assert not missing, f"docs/layout.md does not name: {missing}"


def test_the_readme_stays_a_front_page():
    """What it is, the two commands, the default result, the headline, links: the reference lives in docs/."""
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 250


def test_every_relative_link_of_the_readme_exists():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (REPO_ROOT / "README.md").read_text())
    local = [link for link in links if "://" not in link]
    assert local and not [link for link in local if not (REPO_ROOT / link).exists()]
