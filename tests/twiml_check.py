"""What every TwiML answer in the suite must be: XML with root <Response>, made only of
verbs and attributes the installed twilio SDK's TwiML classes know.

The vocabulary is read from the SDK itself: each factory method (``gather``, ``dial``,
``number`` ...) creates the element of the same name, and its parameters, camel-cased as
the SDK does, are that element's attributes.
"""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET
from functools import lru_cache

from twilio.twiml import TwiML, lower_camel, voice_response


def _content(cls: type) -> set[str]:
    """The parameters an element class takes as its text, not as attributes: those its own
    ``__init__`` names (``Play(url)``, ``Number(phone_number)``); the rest go to kwargs, which
    become attributes (``<ConversationRelay url>``, ``<Parameter name value>``)."""
    return {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")}


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, set[str]]:
    """Element name -> attribute names, as the SDK would write them."""
    classes = {
        name.lower(): cls
        for name, cls in inspect.getmembers(voice_response, inspect.isclass)
        if issubclass(cls, TwiML)
    }
    known: dict[str, set[str]] = {"Response": set()}
    for _, cls in inspect.getmembers(voice_response, inspect.isclass):
        for method_name, method in inspect.getmembers(cls, inspect.isfunction):
            element = classes.get(method_name.replace("_", ""))
            if element is None or method_name.startswith("_"):
                continue
            content = _content(element)
            params = [
                p for p in inspect.signature(method).parameters if p not in ("self", "kwargs", *content)
            ]
            attrs = {lower_camel(TwiML.MAP.get(p, p)) for p in params}
            known.setdefault(element.__name__, set()).update(attrs)
    return known


def assert_valid_twiml(body: str, content_type: str = "text/xml") -> ET.Element:
    """Raise AssertionError naming the first thing that is not valid TwiML."""
    assert content_type.split(";")[0].strip() == "text/xml", f"Content-Type is {content_type!r}"
    root = ET.fromstring(body)
    assert root.tag == "Response", f"root element is <{root.tag}>, not <Response>"
    known = vocabulary()
    for element in root.iter():
        assert element.tag in known, f"<{element.tag}> is not a TwiML verb the SDK knows"
        unknown = set(element.attrib) - known[element.tag]
        assert not unknown, f"<{element.tag}> has attributes the SDK does not know: {unknown}"
    return root
