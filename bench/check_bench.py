"""`ivr check` time against the size of the folder: it must grow linearly.

Two shapes per size N (states in one flow): a chain of N plain `say` states (the engine
would give up after MAX_HOPS of them: check refuses it, after reading all of it), and a
valid flow of N states, a `say` and a `menu` in turn, ending in a route, a disclosure and
a bridge. Prints seconds and microseconds per state; run with sizes as arguments
(default 1000 4000 8000 16000).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ivr.check import check_folder

HEAD = """\
[centers.manila]
city = "Manila"
country = "PH"
timezone = "Asia/Manila"
connect = { queue = "acme-manila" }

[centers.scranton]
city = "Scranton"
country = "US"
timezone = "America/New_York"
connect = { number = "+15705550123" }

[numbers."+18005550100"]
flow = "big"

[flows.big]
start = "s0"
domestic = "scranton"
"""

TAIL = """
[flows.big.states.route]
type = "route"
centers = ["manila"]
next = "disclose"
closed = "bye"

[flows.big.states.disclose]
type = "disclose"
text = "Your call will be answered by our team in {city}, {country}."
offer = "To speak with an agent in {home_country}, press 1 or say 'agent'."
next = "bridge"

[flows.big.states.bridge]
type = "bridge"

[flows.big.states.bye]
type = "hangup"
"""


def plain_chain(n: int) -> str:
    states = [
        f'[flows.big.states.s{i}]\ntype = "say"\ntext = "Step {i}."\nnext = "s{i + 1}"\n'
        for i in range(n - 1)
    ]
    states.append(f'[flows.big.states.s{n - 1}]\ntype = "hangup"\n')
    return HEAD + "\n".join(states)


def menu_chain(n: int) -> str:
    states = []
    for i in range(0, n - 4, 2):
        nxt = f"s{i + 2}" if i + 2 < n - 4 else "route"
        states.append(f'[flows.big.states.s{i}]\ntype = "say"\ntext = "Step {i}."\nnext = "s{i + 1}"\n')
        states.append(
            f'[flows.big.states.s{i + 1}]\ntype = "menu"\nprompt = "Press 2."\n'
            f'options = {{ "2" = "{nxt}" }}\nno_input = "{nxt}"\ninvalid = "bye"\n'
        )
    return HEAD + "\n".join(states) + TAIL


def timed(text: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "big.toml").write_text(text, encoding="utf-8")
        started = time.perf_counter()
        _, _, errors = check_folder(Path(tmp), "US")
        return time.perf_counter() - started, len(errors)


def main(sizes: list[int]) -> None:
    print(f"{'states':>7} {'shape':<12} {'seconds':>8} {'us/state':>9} {'problems':>8}")
    for n in sizes:
        for shape, make in (("plain chain", plain_chain), ("say+menu", menu_chain)):
            seconds, problems = timed(make(n))
            print(f"{n:>7} {shape:<12} {seconds:>8.2f} {seconds / n * 1e6:>9.0f} {problems:>8}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 4000, 8000, 16000])
