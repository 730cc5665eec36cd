"""The config file: YAML (or TOML, same schema) in, a validated `Config` out.

Reading the file and mapping YAML key paths to line numbers happens here; the schema
walk is `authcheck.config.schema`. Problems come back all at once as `ConfigError`,
never as a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import yaml

from authcheck.config.model import (
    Config,
)
from authcheck.config.schema import KeyPath, LineOf, Problem, check_config, render_path

# ---------------------------------------------------------------------------- public API


class ConfigError(Exception):
    """A config that cannot be used; `str()` gives every problem, one per line."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(source, problems)
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(problem.render(self.source) for problem in self.problems)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; `.toml` is TOML, anything else YAML."""
    source = os.fspath(path)
    parse = _parse_toml if Path(source).suffix.lower() == ".toml" else _parse_yaml
    data, line_of, early = parse(_read_text(source), source)
    config, problems = check_config(data, source, line_of)
    return _verdict(source, config, early + problems)


def read_document(path: str | os.PathLike[str]) -> tuple[object, LineOf]:
    """A YAML (or `.toml`) file's data and its key-path-to-line map, for files beside the config
    (`authcheck test`'s cases); raises ConfigError when it cannot be read or parsed."""
    source = os.fspath(path)
    parse = _parse_toml if Path(source).suffix.lower() == ".toml" else _parse_yaml
    data, line_of, early = parse(_read_text(source), source)
    if early:
        raise ConfigError(source, early)
    return data, line_of


def parse_config(data: object, source: str = "<memory>", *, line_of: LineOf | None = None) -> Config:
    """Validate already-parsed data; `line_of` maps a key path to its line, when known."""
    return _verdict(source, *check_config(data, source, line_of or _no_line))


def _verdict(source: str, config: Config | None, problems: list[Problem]) -> Config:
    if problems or config is None:
        raise ConfigError(source, sorted(problems, key=lambda problem: problem.line or 0))
    return config


# ---------------------------------------------------------------------------- reading


def _no_line(path: KeyPath) -> int | None:
    return None


def _file_problem(source: str, message: str, line: int | None = None) -> ConfigError:
    return ConfigError(source, [Problem("", message, line)])


def _read_text(source: str) -> str:
    try:
        raw = Path(source).read_bytes()
    except FileNotFoundError:
        raise _file_problem(source, "file not found; check the --config path (or AUTHCHECK_CONFIG)") from None
    except OSError as error:
        raise _file_problem(
            source, f"cannot read the file ({error.strerror}); check that it is a file authcheck's user may read"
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _file_problem(
            source,
            f"is not UTF-8 text (byte {raw[error.start]:#04x} at offset {error.start}); "
            "point --config at the YAML or TOML file, saved as UTF-8",
        ) from None


def _parse_toml(text: str, source: str) -> tuple[object, LineOf, list[Problem]]:
    try:
        return tomllib.loads(text), _no_line, []
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", str(error))
        what = str(error)[: found.start()] if found else str(error)
        column = f" (column {found[2]})" if found else ""
        raise _file_problem(
            source,
            f"TOML syntax error: {what}{column}; check the quoting and the [table] headers around this line",
            int(found[1]) if found else None,
        ) from None


def _parse_yaml(text: str, source: str) -> tuple[object, LineOf, list[Problem]]:
    """Parse with the safe loader, keeping the composed nodes for line numbers."""
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        duplicates = list(_duplicate_keys(root, (), set())) if root is not None else []
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as error:
        raise _yaml_problem(error, source) from None
    except RecursionError:
        raise _file_problem(source, "is nested too deeply to be a config; is this the right file?") from None
    return data, _yaml_lines(root), duplicates


def _yaml_problem(error: yaml.YAMLError, source: str) -> ConfigError:
    if isinstance(error, yaml.reader.ReaderError):
        return _file_problem(
            source,
            f"holds a character YAML does not allow ({error.character:#06x} at offset "
            f"{error.position}); point --config at the YAML or TOML text file",
        )
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return _file_problem(source, f"is not readable YAML ({' '.join(str(error).split())}); is this the right file?")
    mark = error.problem_mark
    context = f"{error.context} on line {error.context_mark.line + 1}: " if error.context and error.context_mark else ""
    return _file_problem(
        source,
        f"YAML syntax error at column {mark.column + 1}: {context}{error.problem}; check "
        "the indentation, and quote values containing ': ' or ' #' or starting with * & ! [ {",
        mark.line + 1,
    )


def _duplicate_keys(node: yaml.Node, path: KeyPath, seen: set[int]) -> Iterator[Problem]:
    """PyYAML silently keeps the last of two equal keys: a dropped `rules:` must not go unnoticed."""
    if id(node) in seen:  # an alias: already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index), seen)
    elif isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in first_line:
                yield Problem(
                    render_path((*path, key.value)),
                    f"is given twice (also on line "
                    f"{first_line[key.value]}) and YAML would silently keep only this one; "
                    "merge the two into one",
                    line,
                )
            first_line.setdefault(key.value, line)
            yield from _duplicate_keys(value, (*path, key.value), seen)


def _yaml_lines(root: yaml.Node | None) -> LineOf:
    """Line of a key path: the key's line for mapping entries, the item's for list items;
    a path that does not exist (a missing key) gets the line of its deepest existing parent."""

    def line_of(path: KeyPath) -> int | None:
        if root is None:
            return None
        node, line = root, root.start_mark.line + 1
        for step in path:
            found = _yaml_child(node, step)
            if found is None:
                break
            line, node = found
        return line

    return line_of


def _yaml_child(node: yaml.Node, step: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step].start_mark.line + 1, node.value[step]
    if isinstance(node, yaml.MappingNode):
        for key, value in reversed(node.value):  # the last of equal keys is the one kept
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                return key.start_mark.line + 1, value
    return None
