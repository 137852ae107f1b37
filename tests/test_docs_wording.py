"""Docs and help texts for people who never read the original feature description."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).parent.parent
#: Phrases that only make sense to someone who has the original description at hand.
SPEC_TALK = re.compile(r"the spec\b|spec's|wizard|View Header|BUGtrack|the seed\b", re.IGNORECASE)


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda path: str(path.relative_to(ROOT)))
def test_docs_say_what_a_thing_is_without_the_spec(page: Path) -> None:
    found = SPEC_TALK.findall(page.read_text(encoding="utf-8"))
    assert not found, f"{page.name}: {found}"


def test_help_texts_say_what_a_thing_is_without_the_spec() -> None:
    pytest.importorskip("click")
    import click
    from click.testing import CliRunner

    from mailtrack.cli import cli

    def commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
        found = [prefix]
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += commands(command, [*prefix, name])
            else:
                found.append([*prefix, name])
        return found

    for path in commands(cli, []):
        output = " ".join(CliRunner().invoke(cli, [*path, "--help"]).output.split())
        assert not SPEC_TALK.findall(output), (path, SPEC_TALK.findall(output))


def test_the_corpora_are_described_beside_mailtrack_corpora() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    around = readme[readme.index("MAILTRACK_CORPORA") - 200 : readme.index("MAILTRACK_CORPORA") + 600]
    for fact in ("cpython-test-email", "PSF-2.0", "mail-parser", "Apache-2.0"):
        assert fact in around


def test_the_testing_extra_brings_pytest_for_the_contract() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert any(requirement.startswith("pytest") for requirement in extras["testing"])


def test_the_custom_store_howto_says_how_to_run_the_contract() -> None:
    howto = (ROOT / "docs" / "howto" / "custom-store.md").read_text(encoding="utf-8")
    assert "pip install 'mailtrack[testing]'" in howto
    assert "python -m pytest tests/test_mystore.py" in howto
    assert ":pyobject: TestNotifyingStore" in howto  # the code shown is the example's, which runs
