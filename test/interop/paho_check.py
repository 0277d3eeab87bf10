#!/usr/bin/python3
"""Interop checks for Moat driven by Eclipse paho-mqtt (Python).

Written for Debian's python3-paho-mqtt 1.6.x (the 1.x callback API, which
paho-mqtt 2.x still offers as CallbackAPIVersion.VERSION1) and run with
/usr/bin/python3 by test/interop_python_test.go.

usage: paho_check.py HOST PORT --protocol {311,5} [--check NAME ...]
                     [--prefix TOPIC_PREFIX] [--timeout SECONDS]

Every check connects its own clients and uses topics under the prefix, so
several runs can share one broker. The program prints one JSON summary on
stdout and exits 0 when every check passed, 1 when one failed (the reason is
on stderr and in the summary), 2 on bad usage.
"""

import argparse
import json
import os
import queue
import socket
import struct
import sys
import threading
import time
import uuid

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

CHECKS = ("connect", "qos", "retain", "will", "properties", "mixed")
V5_ONLY = ("properties", "mixed")
RUN_ID = uuid.uuid4().hex[:6]


class CheckFailed(Exception):
    """A broker behaviour that differs from what the check expects."""


class Deadline:
    """The time left for the whole run; every wait takes its share from it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise CheckFailed("run deadline exceeded")
        return left


class Peer:
    """One paho client with its network loop in a background thread.

    Callbacks record CONNACK, SUBACK and PUBLISH events; the wait_* methods
    block on them with the run deadline, so checks never sleep.
    """

    def __init__(self, name, protocol, deadline, will=None):
        self.name = name
        self.protocol = protocol
        self.deadline = deadline
        self.cond = threading.Condition()
        self.conn_rc = None
        self.conn_flags = None
        self.subacks = {}
        self.disconnected = None
        self.messages = queue.Queue()
        kwargs = {"client_id": name, "protocol": protocol}
        if hasattr(mqtt, "CallbackAPIVersion"):
            # paho-mqtt 2.x: keep the 1.x callback signatures used below.
            kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        if protocol == mqtt.MQTTv311:
            kwargs["clean_session"] = True
        self.client = mqtt.Client(**kwargs)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        if will is not None:
            self.client.will_set(**will)

    # Callbacks run on the paho network thread. -------------------------
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.conn_rc = rc
            self.conn_flags = flags
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        codes = [g.value if hasattr(g, "value") else g for g in granted]
        with self.cond:
            self.subacks[mid] = codes
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        self.messages.put(msg)

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            self.disconnected = rc
            self.cond.notify_all()

    # Blocking helpers used by the checks. ------------------------------
    def _wait(self, what, pred):
        with self.cond:
            while not pred():
                if not self.cond.wait(timeout=min(self.deadline.left(), 0.5)):
                    if time.monotonic() >= self.deadline.end:
                        raise CheckFailed(f"{self.name}: timed out waiting for {what}")

    def connect(self, host, port, background=True):
        """Connects and waits for a successful CONNACK."""
        props = None
        if self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0
            self.client.connect(host, port, keepalive=30, clean_start=True, properties=props)
        else:
            self.client.connect(host, port, keepalive=30)
        if background:
            # Reconnecting would hide broker failures.
            self.client.loop_start()
            self._wait("CONNACK", lambda: self.conn_rc is not None)
        else:
            while self.conn_rc is None:
                self.deadline.left()
                rc = self.client.loop(timeout=0.1)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    raise CheckFailed(f"{self.name}: network loop error {mqtt.error_string(rc)}")
        rc = self.conn_rc
        if (rc.value if hasattr(rc, "value") else rc) != 0:
            raise CheckFailed(f"{self.name}: CONNACK refused: {rc}")
        return self.conn_flags

    def subscribe(self, topic, qos):
        """Subscribes and waits for the SUBACK; returns the granted codes."""
        rc, mid = self.client.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise CheckFailed(f"{self.name}: subscribe {topic}: {mqtt.error_string(rc)}")
        self._wait(f"SUBACK for {topic}", lambda: mid in self.subacks)
        codes = self.subacks[mid]
        if codes != [qos]:
            raise CheckFailed(f"{self.name}: SUBACK for {topic} granted {codes}, want [{qos}]")
        return codes

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        """Publishes and waits until the QoS flow completed (PUBACK/PUBCOMP)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CheckFailed(f"{self.name}: publish {topic}: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(timeout=self.deadline.left())
        if not info.is_published():
            raise CheckFailed(f"{self.name}: publish {topic} qos {qos} not acknowledged")

    def next_message(self, what):
        try:
            return self.messages.get(timeout=self.deadline.left())
        except queue.Empty:
            raise CheckFailed(f"{self.name}: timed out waiting for {what}") from None

    def stop(self):
        """Disconnects normally (sends DISCONNECT) and stops the loop."""
        try:
            self.client.disconnect()
            self._wait("disconnect", lambda: self.disconnected is not None)
        finally:
            self.client.loop_stop()

    def drop(self):
        """Drops the connection abruptly: TCP reset, no DISCONNECT packet."""
        sock = self.client.socket()
        if sock is None:
            raise CheckFailed(f"{self.name}: no socket to drop")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def describe(msg):
    return {"topic": msg.topic, "payload": msg.payload.decode("utf-8", "replace"),
            "qos": msg.qos, "retain": bool(msg.retain)}


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


class Run:
    """Shared state of one program run: broker address, protocol, clients."""

    def __init__(self, args, index):
        self.index = index
        self.host = args.host
        self.port = args.port
        self.protocol = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311
        self.prefix = args.prefix
        self.deadline = Deadline(args.timeout)
        self.peers = []

    def peer(self, name, connect=True, protocol=None, will=None, background=True):
        # Client ids stay within the 23 bytes every server must accept [MQTT-3.1.3-5].
        p = Peer(f"py-{RUN_ID}-{self.index}{name}", protocol or self.protocol,
                 self.deadline, will=will)
        self.peers.append(p)
        if connect:
            p.connect(self.host, self.port, background=background)
        return p

    def topic(self, *parts):
        return "/".join((self.prefix,) + parts)

    def close(self):
        # Disconnect everyone first: a loop thread exits promptly after
        # DISCONNECT, while loop_stop alone waits out its select timeout.
        for p in self.peers:
            try:
                p.client.disconnect()
            except Exception:  # best effort cleanup
                pass
        for p in self.peers:
            p.client.loop_stop()


def check_connect(run):
    p = run.peer("connect")
    expect(p.conn_flags.get("session present") == 0,
           f"clean session CONNACK has session present = {p.conn_flags}")
    p.stop()
    expect(p.disconnected == 0, f"disconnect rc {p.disconnected}")
    return {"session_present": p.conn_flags.get("session present")}


def check_qos(run):
    filt = run.topic("qos", "+")
    sub2 = run.peer("sub2")
    sub2.subscribe(filt, 2)
    sub1 = run.peer("sub1")
    sub1.subscribe(filt, 1)
    pub = run.peer("pub")
    for q in (0, 1, 2):
        pub.publish(run.topic("qos", str(q)), f"q{q}", qos=q)
    got = {}
    for sub, max_qos in ((sub2, 2), (sub1, 1)):
        seen = {}
        for _ in range(3):
            m = sub.next_message(f"QoS messages on sub{max_qos}")
            seen[m.payload.decode()] = m
        for q in (0, 1, 2):
            m = seen.get(f"q{q}")
            expect(m is not None, f"sub{max_qos} missed q{q}; got {sorted(seen)}")
            want = min(q, max_qos)  # [MQTT-3.8.4-6] delivered at min(pub, granted)
            expect(m.qos == want, f"sub{max_qos}: q{q} delivered at QoS {m.qos}, want {want}")
            expect(not m.retain, f"sub{max_qos}: q{q} has retain set")
            expect(m.topic == run.topic("qos", str(q)), f"q{q} on topic {m.topic}")
        got[f"sub{max_qos}"] = {k: v.qos for k, v in sorted(seen.items())}
    return got


def check_retain(run):
    t = run.topic("retain")
    pub = run.peer("pub")
    pub.publish(t, "kept", qos=1, retain=True)

    late = run.peer("late")
    late.subscribe(t, 1)
    m = late.next_message("retained message")
    expect(m.payload == b"kept" and m.retain,
           f"late subscriber got {describe(m)}, want retained 'kept'")
    expect(m.qos == 1, f"retained message delivered at QoS {m.qos}, want 1")

    # An empty retained payload deletes the retained message; existing
    # subscribers still receive it as a normal message [MQTT-3.3.1-10].
    pub.publish(t, b"", qos=1, retain=True)
    m = late.next_message("empty retained publish")
    expect(m.payload == b"" and not m.retain,
           f"existing subscriber got {describe(m)} for the delete, want empty, retain 0")

    after = run.peer("after")
    after.subscribe(t, 1)
    pub.publish(t, "live", qos=1)
    m = after.next_message("live message after delete")
    expect(m.payload == b"live" and not m.retain,
           f"subscriber after delete got {describe(m)} first, want live message (retained was deleted)")
    m = late.next_message("live message")
    expect(m.payload == b"live" and not m.retain, f"existing subscriber got {describe(m)}")
    return {"retained": "kept", "deleted": True}


def will_args(run, topic, payload):
    props = None
    if run.protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.WILLMESSAGE)
        props.UserProperty = [("why", "dropped")]
        props.ContentType = "text/plain"
    return {"topic": topic, "payload": payload, "qos": 1, "retain": False, "properties": props}


def check_will(run):
    wt = run.topic("will", "dropped")
    nt = run.topic("will", "clean")
    watcher = run.peer("watcher")
    watcher.subscribe(run.topic("will", "#"), 1)

    # A client that disconnects normally has its will discarded [MQTT-3.1.2-10].
    clean = run.peer("clean", will=will_args(run, nt, "must-not-arrive"))
    clean.stop()

    victim = run.peer("victim", will=will_args(run, wt, "gone"), background=False)
    victim.drop()
    m = watcher.next_message("will message")
    expect(m.topic == wt and m.payload == b"gone",
           f"watcher got {describe(m)}, want will 'gone' on {wt}")
    expect(m.qos == 1 and not m.retain, f"will delivered as {describe(m)}")
    detail = {"will": describe(m)}
    if run.protocol == mqtt.MQTTv5:
        props = getattr(m, "properties", None)
        ups = getattr(props, "UserProperty", None)
        ct = getattr(props, "ContentType", None)
        expect(ups == [("why", "dropped")], f"will user properties {ups}")
        expect(ct == "text/plain", f"will content type {ct!r}")
        detail["properties"] = {"user": ups, "content_type": ct}

    # Fence: this marker follows the clean client's disconnect, so a wrongly
    # published will would most likely arrive before it.
    pub = run.peer("marker")
    pub.publish(nt, "marker", qos=1)
    m = watcher.next_message("marker")
    expect(m.payload == b"marker",
           f"will of a normally disconnected client was published: {describe(m)}")
    return detail


def publish_properties():
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v"), ("k2", "v2"), ("k", "v3")]
    props.ContentType = "application/json"
    props.CorrelationData = b"\x00corr\xff"
    props.MessageExpiryInterval = 60
    props.PayloadFormatIndicator = 1
    return props


def check_properties(run):
    req_t = run.topic("props", "req")
    resp_t = run.topic("props", "resp")
    responder = run.peer("responder")
    responder.subscribe(req_t, 1)
    requester = run.peer("requester")
    requester.subscribe(resp_t, 1)

    props = publish_properties()
    props.ResponseTopic = resp_t
    requester.publish(req_t, '{"ask":1}', qos=1, properties=props)

    m = responder.next_message("request with properties")
    p = m.properties
    got = {
        "user": getattr(p, "UserProperty", None),
        "content_type": getattr(p, "ContentType", None),
        "response_topic": getattr(p, "ResponseTopic", None),
        "correlation": getattr(p, "CorrelationData", b"").hex(),
        "expiry": getattr(p, "MessageExpiryInterval", None),
        "format": getattr(p, "PayloadFormatIndicator", None),
    }
    # User properties keep their order and duplicates [MQTT-3.3.2-17], [MQTT-3.3.2-18].
    expect(got["user"] == [("k", "v"), ("k2", "v2"), ("k", "v3")], f"user properties {got['user']}")
    expect(got["content_type"] == "application/json", f"content type {got['content_type']!r}")
    expect(got["response_topic"] == resp_t, f"response topic {got['response_topic']!r}")
    expect(got["correlation"] == b"\x00corr\xff".hex(), f"correlation data {got['correlation']}")
    # The forwarded expiry is the remaining lifetime [MQTT-3.3.2-6].
    expect(got["expiry"] is not None and 0 < got["expiry"] <= 60, f"message expiry {got['expiry']}")
    expect(got["format"] == 1, f"payload format indicator {got['format']}")
    expect(m.payload == b'{"ask":1}', f"payload {m.payload!r}")

    # Answer on the response topic with the correlation data, as a requester expects.
    reply = Properties(PacketTypes.PUBLISH)
    reply.CorrelationData = p.CorrelationData
    responder.publish(p.ResponseTopic, "answer", qos=1, properties=reply)
    r = requester.next_message("response")
    rc = getattr(r.properties, "CorrelationData", None)
    expect(r.topic == resp_t and r.payload == b"answer" and rc == b"\x00corr\xff",
           f"response {describe(r)} correlation {rc!r}")
    got["response"] = describe(r)
    return got


def check_mixed(run):
    """A v5 publisher with properties and a v3.1.1 subscriber, and back."""
    t = run.topic("mixed")
    old = run.peer("v311", protocol=mqtt.MQTTv311)
    old.subscribe(t, 1)
    new = run.peer("v5", protocol=mqtt.MQTTv5)
    new.subscribe(t, 1)
    props = publish_properties()
    new.publish(t, "from-v5", qos=1, properties=props)
    for sub in (old, new):
        m = sub.next_message("v5 publish")
        expect(m.payload == b"from-v5" and m.qos == 1, f"{sub.name} got {describe(m)}")
    old.publish(t, "from-v311", qos=1)
    for sub in (old, new):
        m = sub.next_message("v3.1.1 publish")
        expect(m.payload == b"from-v311" and m.qos == 1, f"{sub.name} got {describe(m)}")
        if sub is new:
            ups = getattr(m.properties, "UserProperty", None)
            expect(not ups, f"v3.1.1 message reached v5 subscriber with user properties {ups}")
    return {"ok": True}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--protocol", choices=("311", "5"), required=True)
    ap.add_argument("--check", action="append", choices=CHECKS,
                    help="check to run (repeatable); default: all that apply")
    ap.add_argument("--prefix", default=f"interop/paho/{RUN_ID}")
    ap.add_argument("--timeout", type=float, default=15.0)
    args = ap.parse_args()

    checks = args.check or [c for c in CHECKS if args.protocol == "5" or c not in V5_ONLY]
    for c in checks:
        if c in V5_ONLY and args.protocol != "5":
            ap.error(f"check {c} needs --protocol 5")

    # A hard stop in case a paho call blocks outside our deadline checks.
    def watchdog():
        time.sleep(args.timeout + 5)
        print(json.dumps({"ok": False, "error": "watchdog: run hung"}))
        sys.stderr.write("FAIL: watchdog: run hung\n")
        sys.stdout.flush()
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    summary = {"peer": "paho-mqtt", "peer_version": paho.mqtt.__version__,
               "python": sys.version.split()[0], "protocol": args.protocol,
               "prefix": args.prefix, "checks": {}, "ok": True}
    for index, name in enumerate(checks):
        run = Run(args, index)
        run.prefix = f"{args.prefix}/{name}"
        try:
            detail = globals()[f"check_{name}"](run)
            summary["checks"][name] = {"ok": True, "detail": detail}
        except Exception as err:  # CheckFailed or an unexpected client error
            kind = "" if isinstance(err, CheckFailed) else f"{type(err).__name__}: "
            summary["checks"][name] = {"ok": False, "error": f"{kind}{err}"}
            summary["ok"] = False
            sys.stderr.write(f"FAIL {name} (MQTT {args.protocol}): {kind}{err}\n")
        finally:
            run.close()
    print(json.dumps(summary, default=str))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
