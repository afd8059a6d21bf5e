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

CONTENT = ("message", "body", "name", "url", "phone_number", "sip_url", "queue_name", "value", "words")


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, set[str]]:
    """Element name -> attribute names, as the SDK would write them."""
    classes = {
        name.lower(): name
        for name, cls in inspect.getmembers(voice_response, inspect.isclass)
        if issubclass(cls, TwiML)
    }
    known: dict[str, set[str]] = {"Response": set()}
    for _, cls in inspect.getmembers(voice_response, inspect.isclass):
        for method_name, method in inspect.getmembers(cls, inspect.isfunction):
            tag = classes.get(method_name.replace("_", ""))
            if tag is None or method_name.startswith("_"):
                continue
            names = [p for p in inspect.signature(method).parameters if p not in ("self", "kwargs")]
            # a noun's text is its first parameter (play's url); <Number url> is an attribute
            params = [p for i, p in enumerate(names) if p not in CONTENT or p == "url" and i > 0]
            attrs = {lower_camel(TwiML.MAP.get(p, p)) for p in params}
            known.setdefault(tag, set()).update(attrs)
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
