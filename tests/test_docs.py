"""The README and docs/ stay a short front door plus pages that exist: no dead or outgoing
relative link, the README under its length budget, and its commands and config still true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from authcheck.config.file import parse_config

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = sorted([README, *(REPO / "docs").rglob("*.md")])
README_MAX_LINES = 250

# Guides other work is adding; linked ahead of time from README.md and docs/README.md.
# Remove each name once its page exists (the test below fails as a reminder when it does).
PENDING_PAGES: frozenset[str] = frozenset()

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text a reader sees as links: fenced blocks and code spans hold examples, not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _targets(page: Path) -> list[str]:
    prose = _prose(page.read_text(encoding="utf-8"))
    return [m.group(1) for pattern in (_LINK, _REFERENCE, _HTML_LINK) for m in pattern.finditer(prose)]


def _relative_links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in _targets(page) if not _SCHEME.match(target)]


def _linked_files(page: Path) -> set[str]:
    """The repository files a page links to, by their path from the repository root."""
    files = {(page.parent / t.partition("#")[0]).resolve() for t in _targets(page) if not _SCHEME.match(t)}
    return {file.relative_to(REPO).as_posix() for file in files if file.is_relative_to(REPO)}


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower-cased, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _name(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def test_the_link_finder_sees_links() -> None:
    """Guards the test itself: a regex that found nothing would pass every page."""
    links = _relative_links()
    assert (README, "docs/configuration.md") in links
    assert any(page.name == "proxies.md" and target.startswith("#") for page, target in links)


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_points_into_the_repository_at_a_file_that_exists(page: Path) -> None:
    problems = []
    for target in _targets(page):
        if _SCHEME.match(target):
            continue  # https:// links to standards and upstream docs are fine
        path, _, anchor = target.partition("#")
        if ".." in Path(path).parts or path.startswith("/"):
            problems.append(f"{target}: links must stay inside the repository, relative and without '..'")
            continue
        file = (page.parent / path).resolve() if path else page
        name = file.relative_to(REPO).as_posix() if file.is_relative_to(REPO) else str(file)
        if not file.exists():
            if name not in PENDING_PAGES:
                problems.append(f"{target}: {name} does not exist")
            continue
        if anchor and file.suffix == ".md" and anchor not in _anchors(file):
            problems.append(f"{target}: {name} has no heading with the id #{anchor}")
    assert not problems, f"{_name(page)}:\n" + "\n".join(problems)


def test_pending_pages_are_still_pending() -> None:
    """Once a guide lands, take it out of PENDING_PAGES so its links are checked like the rest."""
    landed = sorted(name for name in PENDING_PAGES if (REPO / name).exists())
    assert not landed, f"these pages exist now; remove them from PENDING_PAGES: {landed}"


def test_the_pending_pages_are_linked_from_both_indexes() -> None:
    for index in (README, REPO / "docs" / "README.md"):
        linked = _linked_files(index)
        assert linked >= PENDING_PAGES, f"{_name(index)} does not link {sorted(PENDING_PAGES - linked)}"


def test_every_docs_page_is_in_the_index() -> None:
    index = REPO / "docs" / "README.md"
    linked = _linked_files(index) | {_name(index)}
    missing = [_name(page) for page in PAGES if page.parent == index.parent and _name(page) not in linked]
    assert not missing, f"docs/README.md does not list {missing}"


def test_readme_is_a_five_minute_read() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move depth into docs/ (limit {README_MAX_LINES})"


def test_readme_keeps_the_two_commands() -> None:
    """The recipe a newcomer pastes; tests/test_cli.py checks that `authcheck dev` then works."""
    text = README.read_text(encoding="utf-8")
    assert "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/authcheck dev\n" in text
    assert "\nscripts/test\n" in text


@pytest.mark.parametrize("page", [README, REPO / "docs" / "configuration.md"], ids=_name)
def test_the_first_config_example_is_a_valid_config(page: Path) -> None:
    block = re.search(r"^```yaml\n(.*?)^```", page.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert block, f"{_name(page)} has no yaml example"
    parse_config(yaml.safe_load(block.group(1)), _name(page))
