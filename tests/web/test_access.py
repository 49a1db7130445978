"""Who may use a served run (tuiflow/web/access.py): links open once, sessions are what the
cookie carries, and only this server's own names pass as Host and Origin."""

from __future__ import annotations

import socket

import pytest

from tuiflow.web.access import Access, is_ip_literal, split_host


@pytest.mark.parametrize(("value", "parsed"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    ("LocalHost:80", ("localhost", 80)),
    ("[::1]:8080", ("[::1]", 8080)),
    ("example.org", ("example.org", None)),
    ("::1", None),                    # IPv6 needs its brackets in a Host
    ("[::1", None),
    ("host:", None),
    ("host:80x", None),
    ("host:1234567", None),
    (":80", None),
])
def test_host_headers_are_parsed_strictly(value, parsed):
    assert split_host(value) == parsed


def test_a_link_opens_once_and_its_session_is_what_the_cookie_must_carry():
    access = Access("127.0.0.1", 8123, "127.0.0.1")
    token = access.new_token()
    assert access.exchange("not" + token) is None
    session = access.exchange(token)
    assert session and session != token
    assert access.exchange(token) is None             # spent
    assert access.has_session(session)
    assert not access.has_session(token)
    assert not access.has_session(None) and not access.has_session("")
    assert access.cookie == "tuiflow-8123"            # one cookie name per port: two servers never clash


def test_on_loopback_only_its_own_names_pass():
    access = Access("127.0.0.1", 8123, "127.0.0.1")
    for host in ("127.0.0.1:8123", "localhost:8123", "LOCALHOST:8123", "[::1]:8123"):
        assert access.check_host(host) is None, host
    for host in ("evil.example:8123",           # a DNS name rebound to 127.0.0.1
                 "127.0.0.1:8124", "127.0.0.1", "localhost.:8123", "10.0.0.1:8123", "", None, "a b"):
        refusal = access.check_host(host)
        assert refusal is not None and refusal.status == 403, host
    assert "not a name of this server" in access.check_host("evil.example:8123").reason


def test_a_wildcard_address_takes_any_ip_and_this_machines_name_but_no_other_name():
    access = Access("0.0.0.0", 8123, "0.0.0.0")
    assert access.wildcard and not access.loopback
    for host in ("192.168.1.20:8123", "[fe80::1]:8123", f"{socket.gethostname()}:8123", "localhost:8123"):
        assert access.check_host(host) is None, host
    assert access.check_host("evil.example:8123").status == 403
    assert access.check_host("192.168.1.20:9999").status == 403


def test_a_specific_address_takes_only_itself_and_the_name_given():
    access = Access("192.168.1.20", 80, "build1.lan")
    assert access.check_host("192.168.1.20") is None        # port 80 may go unsaid
    assert access.check_host("build1.lan") is None
    assert access.check_host("localhost").status == 403
    assert access.check_host("192.168.1.21").status == 403


def test_only_a_page_of_this_very_server_may_send_requests():
    access = Access("127.0.0.1", 8123, "127.0.0.1")
    assert access.check_origin(None, "127.0.0.1:8123") is None        # not a browser's cross-site request
    assert access.check_origin("http://127.0.0.1:8123", "127.0.0.1:8123") is None
    assert access.check_origin("http://LOCALHOST:8123", "localhost:8123") is None
    for origin in ("http://evil.example", "http://127.0.0.1:8124", "https://127.0.0.1:8123", "null",
                   "http://localhost:8123"):     # another host than the page's own: another origin
        refusal = access.check_origin(origin, "127.0.0.1:8123")
        assert refusal is not None and refusal.status == 403, origin


def test_ip_literals():
    assert is_ip_literal("10.1.2.3") and is_ip_literal("[::1]")
    assert not is_ip_literal("::1") and not is_ip_literal("[10.1.2.3]") and not is_ip_literal("evil.example")
