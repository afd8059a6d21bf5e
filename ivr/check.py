"""``ivr check``: everything an operator file must satisfy before it may be published.

Beyond the field-level checks of ``ivr.flowfile`` this module checks references between
files and proves, over each flow's graph, that no path reaches a bridge into an offshore
center without passing a disclosure (which always carries the transfer offer) after the
center was chosen. A violation names the path, state by state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

from ivr.errors import FlowError
from ivr.flow import Bridge, Config, Disclose, Domestic, Flow, Hangup, Overflow, Route, Say, State
from ivr.flowfile import Sources, build, read_folder

NO_CENTER = "<none>"


def check_folder(folder: Path, home_country: str) -> tuple[Config, Sources, list[FlowError]]:
    """Read, parse and check a folder; return the config, its sources and every problem."""
    sources, errors = read_folder(folder)
    config, parse_errors = build(sources)
    errors += parse_errors
    errors += check_config(config, sources, home_country)
    return config, sources, errors


def check_config(config: Config, sources: Sources, home_country: str) -> list[FlowError]:
    """Cross-file references and the disclosure proof for every flow."""
    errors: list[FlowError] = []
    for e164, number in config.numbers.items():
        if number.flow and number.flow not in config.flows:
            errors.append(FlowError(sources.numbers[e164][0], f"number '{e164}'", "flow",
                                    f"names unknown flow '{number.flow}'"))
    for flow_id, flow in config.flows.items():
        file = sources.flows[flow_id][0]
        errors += [FlowError(file, where, field, msg)
                   for where, field, msg in flow_problems(flow, config, home_country)]
    return errors


def _references(state: State) -> Iterator[tuple[str, str]]:
    """(field, state name) for every edge leaving a state."""
    for field in ("next", "closed", "on_failure", "exhausted"):
        target = getattr(state, field, "")
        if target:
            yield field, target


def flow_problems(flow: Flow, config: Config, home: str) -> Iterator[tuple[str, str, str]]:
    """(where, field, message) for every problem in one flow."""
    where = f"flow '{flow.id}'"
    if flow.start and flow.start not in flow.states:
        yield where, "start", f"names unknown state '{flow.start}'"
    domestic = config.centers.get(flow.domestic)
    if flow.domestic and domestic is None:
        yield where, "domestic", f"names unknown center '{flow.domestic}'"
    elif domestic is not None and domestic.country != home:
        yield where, "domestic", (
            f"center '{flow.domestic}' is in {domestic.country}, not the home country {home}; "
            "a domestic transfer must reach an agent in the home country"
        )
    for name, state in flow.states.items():
        state_where = f"{where} state '{name}'"
        for field, target in _references(state):
            if target not in flow.states:
                yield state_where, field, f"names unknown state '{target}'"
        for center in getattr(state, "centers", ()):
            if center not in config.centers:
                yield state_where, "centers", f"names unknown center '{center}'"
        if isinstance(state, Route):
            for center, weight in state.weights.items():
                if center not in state.centers:
                    yield state_where, f"weights.{center}", "is not one of this state's centers"
                elif not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                    yield state_where, f"weights.{center}", "must be a whole number >= 0"
        if isinstance(state, Disclose):
            if state.key not in tuple("0123456789*#"):
                yield state_where, "key", f"{state.key!r} must be one key: 0-9, * or #"
            if not 1 <= state.timeout <= 30:
                yield state_where, "timeout", "must be between 1 and 30 seconds"
            if "{city}" not in state.text or "{country}" not in state.text:
                yield state_where, "text", "must name the agent's {city} and {country}"
    yield from _loop_problems(flow)
    yield from _path_problems(flow, config, home)


def _loop_problems(flow: Flow) -> Iterator[tuple[str, str, str]]:
    """States that loop forever without waiting for the caller or for Twilio."""
    # A disclose state waits only for an offshore, undisclosed center: count it as immediate.
    immediate = {n: s for n, s in flow.states.items()
                 if isinstance(s, (Say, Route, Overflow, Disclose))}
    for first in immediate:
        seen, stack = set(), [(first, [first])]
        while stack:
            name, path = stack.pop()
            for _, target in _references(immediate[name]):
                if target == first:
                    yield (f"flow '{flow.id}' state '{first}'", "next",
                           "loops without waiting for the caller: " + " -> ".join(path + [first]))
                    return
                if target in immediate and target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))


def _path_problems(flow: Flow, config: Config, home: str) -> Iterator[tuple[str, str, str]]:
    """Walk every path; a bridge reached while an offshore center is undisclosed is refused.

    The abstract state is (state name, centers that may be current and were not disclosed,
    whether the caller asked for the domestic transfer). It is finite, so the walk ends.
    """
    if flow.start not in flow.states:
        return
    offshore = {c for c, center in config.centers.items() if center.country != home}

    def chosen(centers: tuple[str, ...], domestic: bool) -> frozenset[str]:
        return frozenset(c for c in centers if not (domestic and c in offshore))

    start = (flow.start, frozenset({NO_CENTER}), False)
    paths = {start: [flow.start]}
    queue = deque([start])
    reported: set[str] = set()
    while queue:
        node = queue.popleft()
        name, undisclosed, domestic = node
        state = flow.states[name]
        edges: list[tuple[str, frozenset[str], bool]] = []
        if isinstance(state, Say):
            edges.append((state.next, undisclosed, domestic))
        elif isinstance(state, Route):
            edges.append((state.next, chosen(state.centers, domestic), domestic))
            edges.append((state.closed, undisclosed, domestic))
        elif isinstance(state, Overflow):
            edges.append((state.next, chosen(state.centers, domestic), domestic))
            edges.append((state.exhausted, undisclosed, domestic))
        elif isinstance(state, Disclose):
            edges.append((state.next, frozenset(), domestic))
        elif isinstance(state, Bridge):
            bad = sorted(undisclosed & (offshore | {NO_CENTER}))
            if bad and name not in reported:
                reported.add(name)
                why = ("bridges before any center is chosen" if bad == [NO_CENTER] else
                       f"can bridge to offshore center '{next(b for b in bad if b != NO_CENTER)}' "
                       "without a disclosure and transfer offer")
                yield (f"flow '{flow.id}' state '{name}'", "",
                       f"{why} on the path {' -> '.join(paths[node])}")
            if state.on_failure:
                edges.append((state.on_failure, undisclosed, domestic))
        elif isinstance(state, Domestic):
            if state.on_failure:
                edges.append((state.on_failure, frozenset(), True))
        elif isinstance(state, Hangup):
            pass
        for target, und, dom in edges:
            nxt = (target, und, dom)
            if target in flow.states and nxt not in paths:
                paths[nxt] = paths[node] + [target]
                queue.append(nxt)
