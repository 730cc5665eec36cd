"""Exact containment of the glob languages rules match with: does every path (host) one
pattern set matches also match another? For `authcheck check`'s "this rule can never match".

Each pattern set becomes a small NFA over characters (a path glob: `*` any run within a
segment, `**` any run of segments, `{name}` one non-empty segment; a host pattern: `{name}`
one non-empty label). Containment is decided on the product of the first NFA with the
subset construction of the second, over a finite alphabet: every character either pattern
names, the separator, and one character neither names (which stands for all the others).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from authcheck.core.captures import capture_name

# An edge reads one character: exactly `char` ("c"), anything but `char` ("not"), or anything ("any").
Edge = tuple[str, str, int]


@dataclass
class _Nfa:
    edges: list[list[Edge]] = field(default_factory=list)
    empty: list[list[int]] = field(default_factory=list)  # epsilon moves
    accepting: set[int] = field(default_factory=set)
    literals: set[str] = field(default_factory=set)

    def state(self) -> int:
        self.edges.append([])
        self.empty.append([])
        return len(self.edges) - 1

    def read(self, source: int, kind: str, char: str, target: int) -> None:
        self.edges[source].append((kind, char, target))
        if kind == "c":
            self.literals.add(char)

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        seen, stack = set(states), list(states)
        while stack:
            for target in self.empty[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)

    def step(self, states: frozenset[int], char: str) -> frozenset[int]:
        reached = {
            target
            for state in states
            for kind, edge_char, target in self.edges[state]
            if (kind == "any") or (kind == "c" and char == edge_char) or (kind == "not" and char != edge_char)
        }
        return self.closure(reached)


def _run_of(nfa: _Nfa, start: int, excluded: str, at_least_one: bool) -> int:
    """Any run of characters other than `excluded` (`*`: possibly empty; a capture: not)."""
    loop = nfa.state()
    if at_least_one:
        nfa.read(start, "not", excluded, loop)
    else:
        nfa.empty[start].append(loop)
    nfa.read(loop, "not", excluded, loop)
    return loop


def _literal(nfa: _Nfa, start: int, text: str) -> int:
    for char in text:
        following = nfa.state()
        nfa.read(start, "c", char, following)
        start = following
    return start


def _add_path_glob(nfa: _Nfa, start: int, pattern: str) -> None:
    """As core.captures.path_glob_regex reads the pattern."""
    state = start
    for segment in pattern.split("/")[1:]:
        if segment == "**":  # (?:/.*)?
            tail = nfa.state()
            nfa.empty[state].append(tail)
            slash = _literal(nfa, state, "/")
            nfa.read(slash, "any", "", slash)
            nfa.empty[slash].append(tail)
            state = tail
        elif capture_name(segment) is not None:
            state = _run_of(nfa, _literal(nfa, state, "/"), "/", at_least_one=True)
        else:
            state = _literal(nfa, state, "/")
            for index, part in enumerate(segment.split("*")):
                if index:
                    state = _run_of(nfa, state, "/", at_least_one=False)
                state = _literal(nfa, state, part)
    nfa.accepting.add(state)


def _add_host(nfa: _Nfa, start: int, pattern: str) -> None:
    state = start
    for index, label in enumerate(pattern.split(".")):
        if index:
            state = _literal(nfa, state, ".")
        if capture_name(label) is not None:
            state = _run_of(nfa, state, ".", at_least_one=True)
        else:
            state = _literal(nfa, state, label)
    nfa.accepting.add(state)


def _build(patterns: Iterable[str], add: Callable[[_Nfa, int, str], None]) -> tuple[_Nfa, frozenset[int]]:
    nfa = _Nfa()
    start = nfa.state()
    for pattern in patterns:
        add(nfa, start, pattern)
    return nfa, nfa.closure([start])


def _contains(inner: tuple[_Nfa, frozenset[int]], outer: tuple[_Nfa, frozenset[int]], separator: str) -> bool:
    """True when every non-empty string `inner` accepts, `outer` accepts too."""
    (small, small_start), (big, big_start) = inner, outer
    other = next(chr(code) for code in range(0x21, 0x10000) if chr(code) not in small.literals | big.literals)
    alphabet = sorted(small.literals | big.literals | {separator, other})
    start = (small_start, big_start)
    seen, queue = {start}, deque([start])
    while queue:
        small_states, big_states = queue.popleft()
        for char in alphabet:
            pair = (small.step(small_states, char), big.step(big_states, char))
            if not pair[0] or pair in seen:
                continue
            if pair[0] & small.accepting and not pair[1] & big.accepting:
                return False
            seen.add(pair)
            queue.append(pair)
    return True


def paths_contained(inner: Iterable[str] | None, outer: Iterable[str] | None) -> bool:
    """Every path `inner` matches (None: every path), `outer` matches too."""
    if outer is None:
        return True
    return _contains(_build(inner or ["/**"], _add_path_glob), _build(outer, _add_path_glob), "/")


def hosts_contained(inner: Iterable[str] | None, outer: Iterable[str] | None) -> bool:
    """Every host `inner` matches (None: any host, or none at all), `outer` matches too."""
    if outer is None:
        return True
    if inner is None:
        return False  # a request without a host matches no `hosts` list
    return _contains(_build(inner, _add_host), _build(outer, _add_host), ".")
