"""Operator files for generated companies (any number of numbers, centers and flows), as
`ivr check` reads them. Used by tests/test_config_view.py and bench/scale_bench.py."""

from __future__ import annotations

from collections.abc import Iterable

HOME = (
    '[centers.home]\ncity = "Austin"\ncountry = "US"\ntimezone = "America/Chicago"\n'
    'hours = "24/7"\nconnect = { number = "+15125550188" }\n'
)


def center(center_id: str, city: str, country: str = "PH", zone: str = "Asia/Manila") -> str:
    """An offshore center open 24/7, bridged through a queue of its own."""
    return (
        f'[centers.{center_id}]\ncity = "{city}"\ncountry = "{country}"\n'
        f'timezone = "{zone}"\nhours = "24/7"\nconnect = {{ queue = "q-{center_id}" }}\n'
    )


def number(e164: str, flow_id: str) -> str:
    return f'[numbers."{e164}"]\nflow = "{flow_id}"\n'


def flow(flow_id: str, route: Iterable[str], word: str = "team") -> str:
    """Route to these centers, disclose, bridge; the domestic center "home" when closed."""
    centers = ", ".join(f'"{c}"' for c in route)
    return f"""[flows.{flow_id}]
start = "route"
domestic = "home"
language = "en-US"
[flows.{flow_id}.states.route]
type = "route"
centers = [{centers}]
next = "disclose"
closed = "transfer"
[flows.{flow_id}.states.disclose]
type = "disclose"
text = "Your call will be answered by our {word} in {{city}}, {{country}}."
offer = "To speak with an agent in {{home_country}}, press 1 or say 'agent'."
next = "bridge"
[flows.{flow_id}.states.bridge]
type = "bridge"
on_failure = "transfer"
[flows.{flow_id}.states.transfer]
type = "domestic"
on_failure = "sorry"
[flows.{flow_id}.states.sorry]
type = "hangup"
text = "We are sorry, all of our agents are busy. Please call again later."
"""
