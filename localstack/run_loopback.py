"""Runs LocalStack with its default (twisted) gateway bound to the host of GATEWAY_LISTEN.

LocalStack's twisted server opens its IPv4 port on every interface (it ignores the host part of
GATEWAY_LISTEN: "TODO: interface = host?" in localstack/runtime/server/twisted.py). This launcher passes the
host on as twisted's `interface`, then runs `localstack.runtime.main` unchanged. Twisted is about twice as
fast here as the hypercorn gateway, the other server that binds correctly.

usage: GATEWAY_LISTEN=127.0.0.1:4566 python run_loopback.py
"""
import os
import runpy

from twisted.internet import endpoints

host = os.environ.get("GATEWAY_LISTEN", "127.0.0.1:4566").split(",")[0].rsplit(":", 1)[0] or "127.0.0.1"
_tcp4 = endpoints.TCP4ServerEndpoint


def _bound(reactor, port, backlog=50, interface=""):
    return _tcp4(reactor, port, backlog, interface or host)


endpoints.TCP4ServerEndpoint = _bound
runpy.run_module("localstack.runtime.main", run_name="__main__")
