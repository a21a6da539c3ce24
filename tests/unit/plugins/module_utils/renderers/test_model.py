"""The shared model: Loss.covers reads a loss's source, destination and port patterns."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss, endpoint_covers, port_covers


@pytest.mark.parametrize("pattern, endpoint, covered", [
    ("*", "hipstershop/frontend", True),
    ("*", "net:198.51.100.7", True),
    ("hipstershop/*", "hipstershop/frontend", True),
    ("hipstershop/*", "hipstershop/app=frontend", True),
    ("hipstershop/*", "hipstershopx/frontend", False),
    ("hipstershop/*", "net:10.0.0.0/8", False),
    ("hipstershop/frontend", "hipstershop/frontend", True),
    ("hipstershop/frontend", "hipstershop/cartservice", False),
    ("hipstershop/pci=true", ["hipstershop/app=frontend", "hipstershop/pci=true", "hipstershop/frontend"], True),
    ("hipstershop/pci=true", ["yaobank/pci=true"], False),
    ("net:*", "net:198.51.100.7", True),
    ("net:*", "domain:www.google.com", True),
    ("net:*", "hipstershop/frontend", False),
    ("net:198.51.100.0/24", "net:198.51.100.7", True),
    ("net:198.51.100.0/24", "net:198.51.100.0/25", True),
    ("net:198.51.100.0/24", "net:198.51.0.0/16", False),
    ("net:198.51.100.0/24", "net:2001:db8::1", False),
    ("net:198.51.100.0/24", "domain:google.com", False),
    ("net:0.0.0.0/0", "domain:google.com", True),
    ("domain:*", "domain:google.com", True),
    ("domain:*", "net:198.51.100.7", False),
    ("domain:*.google.com", "domain:www.google.com", True),
    ("domain:*.google.com", "domain:a.b.google.com", True),
    ("domain:*.google.com", "domain:google.com", False),
    ("domain:google.com", "domain:google.com", True),
    ("domain:google.com", "domain:www.google.com", False),
    ("hipstershop/*", [], False),
])
def test_endpoint_patterns(pattern, endpoint, covered):
    assert endpoint_covers(pattern, endpoint) is covered


@pytest.mark.parametrize("pattern, port, covered", [
    ("*", "53/UDP", True),
    ("443/TCP", "443/TCP", True),
    ("443/TCP", "443/UDP", False),
    ("443/TCP", "444/TCP", False),
    ("9090-9100/TCP", "9095/TCP", True),
    ("9090-9100/TCP", "9095-9100/TCP", True),
    ("9090-9100/TCP", "9095-9101/TCP", False),
    ("*/UDP", "53/UDP", True),
    ("*/UDP", "53/TCP", False),
    ("443/tcp", "443/TCP", True),
    ("bogus", "443/TCP", False),
])
def test_port_patterns(pattern, port, covered):
    assert port_covers(pattern, port) is covered


def test_a_loss_covers_traffic_matching_all_three():
    loss = Loss("widened", "security", "trusted-domains", "why", "yaobank/*", "net:*", "443/TCP")
    assert loss.covers("yaobank/customer", "domain:google.com", "443/TCP")
    assert loss.covers(["yaobank/app=customer", "yaobank/customer"], ["net:198.51.100.7"], "443/TCP")
    assert not loss.covers("bookinfo/ratings", "domain:google.com", "443/TCP")
    assert not loss.covers("yaobank/customer", "yaobank/summary", "443/TCP")
    assert not loss.covers("yaobank/customer", "domain:google.com", "80/TCP")
    assert Loss("merged", "security", "tenant-x", "why").covers("a/b", "c/d", "1/TCP")   # the defaults: any traffic
