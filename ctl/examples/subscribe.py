#!/usr/bin/env python3
"""Print each utterance serd classifies: a socket and a JSON parser are all it takes."""
import json, os, socket

def socket_path():
    if os.environ.get("SER_SOCKET"):
        return os.environ["SER_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        return os.path.join(runtime, "ser", "serd.sock")
    return f"/tmp/ser-{os.getuid()}/serd.sock"

with socket.socket(socket.AF_UNIX) as s:
    s.connect(socket_path())
    f = s.makefile("rw", encoding="utf-8", newline="\n")
    hello = json.loads(f.readline())
    f.write(json.dumps({"id": 1, "cmd": "subscribe", "topics": ["utterance"]}) + "\n")
    f.flush()
    for line in f:
        msg = json.loads(line)
        if msg["type"] == "utterance":
            u = msg["data"]
            print(u["emoji"], u["emotion"], f"{u['confidence']:.0%}", flush=True)
