#!/usr/bin/python3
"""Publish/subscribe round trip through Moat over TLS with paho-mqtt (Python).

Written for Debian's python3-paho-mqtt 1.6.x (the 1.x callback API; with
paho-mqtt 2.x it asks for CallbackAPIVersion.VERSION1) and run with
/usr/bin/python3 by test/transport_paho_test.go.

usage: paho_tls.py HOST PORT CAFILE [CERTFILE KEYFILE] [--timeout SECONDS]

With CERTFILE and KEYFILE the clients present that certificate (mutual
TLS). The server certificate is verified against CAFILE, host name
included. For each protocol (MQTT 3.1.1 and 5) a subscriber and a publisher
connect, the subscriber receives the QoS 1 message the publisher sent. The
program prints one JSON summary line on stdout, with one check per
protocol ("roundtrip-311", "roundtrip-5"), and exits 0 when both passed,
1 otherwise.
"""

import argparse
import json
import os
import queue
import ssl
import sys
import threading
import time
import uuid

import paho.mqtt
import paho.mqtt.client as mqtt

RUN_ID = uuid.uuid4().hex[:6]


class CheckFailed(Exception):
    """A broker behaviour that differs from what the check expects."""


class Peer:
    """One paho client over TLS with its network loop in a thread."""

    def __init__(self, name, protocol, args, end):
        self.name = name
        self.end = end
        self.cond = threading.Condition()
        self.conn_rc = None
        self.subacks = {}
        self.messages = queue.Queue()
        kwargs = {"client_id": name, "protocol": protocol}
        if hasattr(mqtt, "CallbackAPIVersion"):
            kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        if protocol == mqtt.MQTTv311:
            kwargs["clean_session"] = True
        self.protocol = protocol
        self.client = mqtt.Client(**kwargs)
        self.client.tls_set(ca_certs=args.cafile, certfile=args.certfile,
                            keyfile=args.keyfile, cert_reqs=ssl.CERT_REQUIRED,
                            tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.conn_rc = rc
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [g.value if hasattr(g, "value") else g for g in granted]
            self.cond.notify_all()

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"{self.name}: run deadline exceeded")
        return left

    def wait(self, what, pred):
        with self.cond:
            while not pred():
                self.cond.wait(timeout=min(self.left(), 0.5))
                if time.monotonic() >= self.end and not pred():
                    raise CheckFailed(f"{self.name}: timed out waiting for {what}")

    def connect(self, host, port):
        if self.protocol == mqtt.MQTTv5:
            self.client.connect(host, port, keepalive=30, clean_start=True)
        else:
            self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.wait("CONNACK", lambda: self.conn_rc is not None)
        rc = self.conn_rc.value if hasattr(self.conn_rc, "value") else self.conn_rc
        if rc != 0:
            raise CheckFailed(f"{self.name}: CONNACK refused: {self.conn_rc}")
        sock = self.client.socket()
        if not isinstance(sock, ssl.SSLSocket):
            raise CheckFailed(f"{self.name}: connection is not TLS: {type(sock).__name__}")
        return {"tls": sock.version(), "cipher": sock.cipher()[0]}

    def stop(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def roundtrip(args, protocol, tag, end):
    topic = f"transport/paho/{RUN_ID}/{tag}"
    payload = f"paho over TLS, MQTT {tag}".encode()
    sub = Peer(f"paho-tls-sub-{tag}-{RUN_ID}", protocol, args, end)
    pub = Peer(f"paho-tls-pub-{tag}-{RUN_ID}", protocol, args, end)
    try:
        detail = sub.connect(args.host, args.port)
        rc, mid = sub.client.subscribe(topic, 1)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise CheckFailed(f"subscribe: {mqtt.error_string(rc)}")
        sub.wait("SUBACK", lambda: mid in sub.subacks)
        if sub.subacks[mid] != [1]:
            raise CheckFailed(f"SUBACK granted {sub.subacks[mid]}, want [1]")
        pub.connect(args.host, args.port)
        info = pub.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=pub.left())
        if not info.is_published():
            raise CheckFailed("publish not acknowledged")
        try:
            msg = sub.messages.get(timeout=sub.left())
        except queue.Empty:
            raise CheckFailed("subscriber received nothing") from None
        if msg.topic != topic or msg.payload != payload:
            raise CheckFailed(f"subscriber got {msg.topic} {msg.payload!r}")
        return detail
    finally:
        pub.stop()
        sub.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("cafile")
    ap.add_argument("certfile", nargs="?")
    ap.add_argument("keyfile", nargs="?")
    ap.add_argument("--timeout", type=float, default=15.0)
    args = ap.parse_args()
    if (args.certfile is None) != (args.keyfile is None):
        ap.error("CERTFILE and KEYFILE go together")

    def watchdog():
        time.sleep(args.timeout + 5)
        print(json.dumps({"ok": False, "error": "watchdog: run hung"}))
        sys.stdout.flush()
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    end = time.monotonic() + args.timeout
    summary = {"peer": "paho-mqtt", "peer_version": paho.mqtt.__version__,
               "python": sys.version.split()[0], "mutual_tls": args.certfile is not None,
               "checks": {}, "ok": True}
    for protocol, tag in ((mqtt.MQTTv311, "311"), (mqtt.MQTTv5, "5")):
        name = f"roundtrip-{tag}"
        try:
            summary["checks"][name] = {"ok": True, "detail": roundtrip(args, protocol, tag, end)}
        except Exception as err:  # CheckFailed, ssl.SSLError, OSError
            kind = "" if isinstance(err, CheckFailed) else f"{type(err).__name__}: "
            summary["checks"][name] = {"ok": False, "error": f"{kind}{err}"}
            summary["ok"] = False
            sys.stderr.write(f"FAIL {name}: {kind}{err}\n")
    print(json.dumps(summary, default=str))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
