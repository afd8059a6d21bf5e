from ivr.caller import Caller
from tests.conftest import SUPPORT


def test_support_line_discloses_manila_before_the_bridge_when_manila_is_chosen(phone, redis_client):
    for _ in range(20):
        t = phone.call(Caller(SUPPORT))
        if t.bridges and t.bridges[0] == ("queue", "acme-manila"):
            assert any("Manila, the Philippines" in h for h in t.heard)
            return
    raise AssertionError("20 calls never routed to Manila at 60% weight")
