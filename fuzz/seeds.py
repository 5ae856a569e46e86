#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ from the examples of jitpe's tests.

The observation targets start from the router tests' fixtures (tests/router_observe/*.json).

Run from anywhere: `python3 fuzz/seeds.py`. The files are committed; rerun after changing this.
Mattermost contexts are signed with the key the fuzz targets use (as in sign.rs's tests).
"""
import base64, hashlib, hmac, json, os, shutil
from urllib.parse import urlencode

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "router_observe")
KEY = b"jitpe-test-secret-0123456789abcdef01234567"
CH = "j6j53p28k6urx15fpcgsr20psq"
EXP = 1700003600

COMMANDS = [
    "request debug shop 15m 502s on /checkout INC-4411", "request debug shop fix 15x",
    "request debug shop/web-frontend 1h30m INC-1", "  REQUEST\tdebug  shop   INC-1  keep   runs  ",
    "request debug shop INC-1\nline two\r\nthree", "request debug shop 5m tab\there \u00e9",
    "list", "List", "status 42", "status #42", "revoke 7", "cancel #3",
    "extend 42 30m still debugging", "extend #42 90s 5m more", "help", "", " \t\n ",
    "frobnicate 42", "request debug shop/", "request debug shop 404 errors",
    "request debug shop bell\u0007", "request debug shop evil\u202etxt", "list all",
    "status 0", "extend 42 fix", "extend 42 30m",
    "request debug shop INC-1 <https://evil.example/login|INC-1 runbook> <@U0APR001>",
    "request debug shop INC-2 [runbook](https://evil.example) ![x](https://evil.example/p.png)",
]
DURATIONS = ["90s", "15m", "2h", "1h30m", "1h5m30s", "05m", "720h", "719h59m60s", "721h",
             "0m", "1h0m", "15", "1.5h", "1d", "15M", "m", "-5m", "1m1h", "1h1h",
             "99999999999999999999s"]


def sign(rid, act, exp, channel):
    msg = f"v1|{rid}|{act}|{exp}|{channel}".encode()
    tag = hmac.new(KEY, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(tag).rstrip(b"=").decode()


def slack_click(action, rid):
    return {
        "type": "block_actions",
        "user": {"id": "U0ALICE01", "username": "alice", "team_id": "T0TEAM001"},
        "api_app_id": "A0APP0001",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0APPROVE"},
        "team": {"id": "T0TEAM001"},
        "response_url": "http://127.0.0.1:9/actions/1",
        "actions": [{"type": "button", "action_id": f"jit_{action}", "value": str(rid)}],
    }


def mm_click(action, rid, exp=EXP, channel=CH):
    ctx = {"v": "1", "rid": str(rid), "act": action, "exp": str(exp), "sig": sign(rid, action, exp, channel)}
    return {"user_id": "abcdefghijklmnopqrstuvwxyz", "user_name": "alice", "channel_id": channel,
            "team_id": "t0team0000000000000000000a", "post_id": "p0post0000000000000000000a",
            "trigger_id": "x", "type": "button", "data_source": "", "context": ctx}


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def audit_seeds():
    events = fixture("eventlist.json")
    done = events["items"][1]
    impersonated = dict(done, user={"username": "admin"}, impersonatedUser={"username": "alice"})
    write = dict(done, verb="patch", level="RequestResponse", responseStatus={"code": 200},
                 requestObject={"metadata": {"annotations": {"a": "b"}}},
                 responseObject={"kind": "Ingress", "metadata": {"name": "web", "resourceVersion": "77"}})
    panic = dict(done, stage="Panic", objectRef=None, responseStatus={"code": 500})
    lists = [events, dict(events, items=[impersonated, write, panic]), dict(events, items=[]),
             dict(events, apiVersion="audit.k8s.io/v1beta1"), dict(events, kind="Event")]
    return [json.dumps(l) for l in lists] + [json.dumps(done), '{"items": [']


def api_seeds():
    ok = {"role": "debug", "namespace": "shop", "duration": "15m", "reason": "deploy INC-7",
          "labels": {"pipeline-url": "https://ci.example/run/42", "run": "42"}}
    bodies = [ok, {"role": "debug", "namespace": "shop/web", "reason": "x"},
              {**ok, "color": 1}, {**ok, "duration": 15}, {**ok, "labels": {"Bad Key": "1"}},
              {**ok, "reason": "evil\u202etxt"}, {"role": "De bug", "namespace": "shop", "reason": "x"}]
    return [json.dumps(b) for b in bodies] + ["{not json", "[]", "null"]


def falco_seeds():
    http, sidekick = fixture("falco_http_output.json"), fixture("falcosidekick.json")
    imp = dict(http, output_fields={"ka.impuser.name": "alice", "k8s.ns.name": "<NA>"})
    return [json.dumps(a) for a in [http, sidekick, imp, dict(http, priority="Info"),
                                    dict(http, priority="Severe")]] + [json.dumps([http])]


def seeds():
    yield "command", COMMANDS
    yield "duration", DURATIONS
    slack = lambda text, **kw: urlencode({"team_id": "T0TEAM001", "user_id": "U0ALICE01",
                                          "command": "/jit", "text": text, "trigger_id": "1.2.3",
                                          "api_app_id": "A0APP0001", **kw})
    yield "slack_command", [slack(t) for t in COMMANDS[:12]] + [
        "ssl_check=1&token=x", slack("list", command="/other"), slack("list", user_id="U-1")]
    clicks = [slack_click(a, r) for a, r in [("approve", 1), ("deny", 42), ("revoke", 7), ("frob", 1)]]
    other = dict(clicks[0], type="view_submission")
    yield "slack_interaction", [urlencode({"payload": json.dumps(c)}) for c in clicks + [other]]
    mm = lambda text, **kw: urlencode({"token": "tok", "team_id": "t0team0000000000000000000a",
                                       "user_id": "abcdefghijklmnopqrstuvwxyz", "command": "/jit",
                                       "text": text, "trigger_id": "x", **kw})
    yield "mattermost_command", [mm(t) for t in COMMANDS[:12]] + [mm("list", command="/other")]
    yield "mattermost_action", [json.dumps(mm_click(a, r)) for a, r in
                                [("approve", 42), ("deny", 42), ("revoke", 7)]] + [
        json.dumps(mm_click("approve", 42, exp=1600000000))]
    yield "k8s_audit", audit_seeds()
    yield "falco", falco_seeds()
    yield "api_request", api_seeds()


def main():
    for target, inputs in seeds():
        folder = os.path.join(ROOT, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for n, text in enumerate(inputs):
            with open(os.path.join(folder, f"{n:02}"), "w", encoding="utf-8", newline="") as f:
                f.write(text)


if __name__ == "__main__":
    main()
