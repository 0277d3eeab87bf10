#!/usr/bin/python3
"""Authentication checks for Moat driven by Eclipse paho-mqtt (Python).

Written for Debian's python3-paho-mqtt 1.6.x and run with /usr/bin/python3
by test/auth_interop_test.go. It reuses Peer from paho_check.py.

usage: paho_auth.py HOST PORT --protocol {311,5} --check {login,refused}
                    --client-id ID [--username U] [--password P]
                    [--topic T] [--want-code N] [--timeout SECONDS]

login    connects with the credentials, subscribes to TOPIC at QoS 1 and
         receives its own QoS 1 publish on it: the session the credentials
         opened is usable.
refused  connects with the credentials and expects the CONNACK to refuse
         them with the connect return code (MQTT 3.1.1) or reason code
         (MQTT 5) N.

The program prints one JSON summary on stdout, in the format of
paho_check.py, and exits 0 when the check passed, 1 when it failed.
"""

import argparse
import json
import os
import sys
import threading
import time

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from paho_check import CheckFailed, Deadline, Peer, describe, expect


def code_of(rc):
    """The numeric CONNACK code: an int (3.1.1) or ReasonCodes (5)."""
    return rc.value if hasattr(rc, "value") else rc


def text_of(rc, protocol):
    if protocol == mqtt.MQTTv5:
        return str(rc)
    return mqtt.connack_string(rc)


def new_peer(args, deadline):
    protocol = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311
    peer = Peer(args.client_id, protocol, deadline)
    if args.username is not None:
        peer.client.username_pw_set(args.username, args.password)
    return peer


def check_login(args, deadline):
    peer = new_peer(args, deadline)
    try:
        flags = peer.connect(args.host, args.port)
        peer.subscribe(args.topic, 1)
        payload = f"hello from {args.client_id}"
        peer.publish(args.topic, payload, qos=1)
        msg = peer.next_message("own publish")
        got = describe(msg)
        expect(got["topic"] == args.topic and got["payload"] == payload and got["qos"] == 1,
               f"got {got}, want {payload!r} at QoS 1 on {args.topic}")
        peer.stop()
        return {"connack_flags": flags, "received": got}
    finally:
        peer.client.loop_stop()


def check_refused(args, deadline):
    peer = new_peer(args, deadline)
    # The network loop runs here, not in a thread: after a refusal paho's
    # thread would wait to reconnect, which hides nothing but costs time.
    if peer.protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        peer.client.connect(args.host, args.port, keepalive=30, clean_start=True, properties=props)
    else:
        peer.client.connect(args.host, args.port, keepalive=30)
    try:
        while peer.conn_rc is None:
            deadline.left()
            rc = peer.client.loop(timeout=0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS and peer.conn_rc is None:
                raise CheckFailed(f"connection ended before CONNACK: {mqtt.error_string(rc)}")
    finally:
        peer.client.disconnect()
    code = code_of(peer.conn_rc)
    text = text_of(peer.conn_rc, peer.protocol)
    expect(code != 0, "the broker accepted the connection")
    expect(code == args.want_code, f"CONNACK code {code} ({text}), want {args.want_code}")
    return {"code": code, "text": text}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--protocol", choices=("311", "5"), required=True)
    ap.add_argument("--check", choices=("login", "refused"), required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--topic", default="interop/auth/paho")
    ap.add_argument("--want-code", type=int)
    ap.add_argument("--timeout", type=float, default=15.0)
    args = ap.parse_args()
    if args.check == "refused" and args.want_code is None:
        ap.error("--check refused needs --want-code")

    def watchdog():
        time.sleep(args.timeout + 5)
        print(json.dumps({"ok": False, "error": "watchdog: run hung"}))
        sys.stderr.write("FAIL: watchdog: run hung\n")
        sys.stdout.flush()
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    summary = {"peer": "paho-mqtt", "peer_version": paho.mqtt.__version__,
               "python": sys.version.split()[0], "protocol": args.protocol,
               "checks": {}, "ok": True}
    try:
        detail = globals()[f"check_{args.check}"](args, Deadline(args.timeout))
        summary["checks"][args.check] = {"ok": True, "detail": detail}
    except Exception as err:  # CheckFailed or an unexpected client error
        kind = "" if isinstance(err, CheckFailed) else f"{type(err).__name__}: "
        summary["checks"][args.check] = {"ok": False, "error": f"{kind}{err}"}
        summary["ok"] = False
        sys.stderr.write(f"FAIL {args.check} (MQTT {args.protocol}): {kind}{err}\n")
    print(json.dumps(summary, default=str))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
