"""AWS IoT Secure Tunneling's management API on tunnel-relay (POST / with
X-Amz-Target, Signature Version 4 against --aws-credentials), driven
unchanged by Debian's AWS CLI (/usr/bin/aws) and by boto3 under
/usr/bin/python3, against real processes on loopback: the whole lifecycle,
pagination, tags, delete, the device notification, the tokens on the data
plane, and the refusals (wrong secret, unknown key, stale date, tampered
body), each as the error name the CLI or boto3 reports.
"""

import json
import os
import secrets
import subprocess

from harness import READY, expect, expect_eq, free_port, localproxy, scaled, skip, timeout
from test_api import ApiRelay, THING, through
from test_mqtt import Broker, Sub, check_notification, make_mqtt_pki, need_mosquitto, topic

AWS_CLI = "/usr/bin/aws"       # Debian's: another aws may come first on PATH
SYS_PYTHON = "/usr/bin/python3"  # Debian's boto3 lives there, whatever runs the tests
KEY_ID = "AKIARELAYE2ETEST0001"
OTHER_KEY_ID = "AKIARELAYE2ETEST0002"


def need_aws_tools():
    if not os.access(AWS_CLI, os.X_OK):
        skip("%s not installed (Debian package awscli; make deps)" % AWS_CLI)
    r = subprocess.run([SYS_PYTHON, "-c", "import boto3"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        skip("boto3 not importable by %s (Debian package python3-boto3; make deps)" % SYS_PYTHON)


class AwsRelay(ApiRelay):
    """ApiRelay with --aws-credentials: two access keys in AWS's own
    credentials format."""

    def __init__(self, t, **kw):
        need_aws_tools()
        self.secret = secrets.token_urlsafe(30)
        self.other_secret = other = secrets.token_urlsafe(30)
        t.secret(self.secret)
        t.secret(other)
        path = t.tmp / "relay-aws-credentials"
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# keys the relay accepts\n[operator]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n\n[other]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (KEY_ID, self.secret, OTHER_KEY_ID, other))
        kw.setdefault("extra_args", ("--aws-credentials", str(path)))
        super().__init__(t, **kw)

    def aws_env(self, key_id=None, secret=None):
        """The environment of an AWS client: only our keys and CA, no
        profile, no pager, no retries (a refusal must show at once)."""
        missing = str(self.t.tmp / "no-such-aws-file")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in (
                   "https_proxy", "http_proxy", "all_proxy", "no_proxy", "pythonpath", "pythonhome")}
        env.update({"HOME": str(self.t.tmp), "AWS_ACCESS_KEY_ID": key_id or KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": secret or self.secret, "AWS_CA_BUNDLE": str(self.ca),
                    "AWS_CONFIG_FILE": missing, "AWS_SHARED_CREDENTIALS_FILE": missing,
                    "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
                    "RELAY_URL": self.url})
        return env

    def cli(self, *args, key_id=None, secret=None, error=None):
        """Runs /usr/bin/aws iotsecuretunneling ARGS. error=None: must
        succeed, returns its JSON output; error=NAME: must fail with that
        AWS error name, returns stderr."""
        argv = [AWS_CLI, "iotsecuretunneling"] + [str(a) for a in args] + [
            "--endpoint-url", self.url, "--region", "us-east-1", "--output", "json"]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.aws_env(key_id, secret),
                           timeout=scaled(60))
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        what = "aws iotsecuretunneling %s" % " ".join(map(str, args[:1]))
        if error is not None:
            expect(r.returncode != 0 and "(%s)" % error in err,
                   "%s: expected error %s, got exit %d, stderr %r, stdout %r" %
                   (what, error, r.returncode, err[-400:], out[:200]))
            return err
        expect(r.returncode == 0, "%s: exit %d, stderr %r" % (what, r.returncode, err[-600:]))
        j = json.loads(out) if out.strip() else {}
        self._note_tokens(j)
        return j

    def boto(self, script, key_id=None, secret=None):
        """Runs script under /usr/bin/python3 with `c`, a boto3
        iotsecuretunneling client for this relay, and `call(name, **kw)`,
        which returns the response or {"error": NAME, "status": N}.
        script prints one JSON value (call result) with out(value)."""
        prelude = (
            "import json, os, sys, boto3, botocore.config, botocore.exceptions\n"
            "c = boto3.client('iotsecuretunneling', endpoint_url=os.environ['RELAY_URL'],\n"
            "    region_name='eu-west-1', verify=os.environ['AWS_CA_BUNDLE'],\n"
            "    config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))\n"
            "def call(name, **kw):\n"
            "    try:\n"
            "        r = getattr(c, name)(**kw)\n"
            "    except botocore.exceptions.ClientError as e:\n"
            "        return {'error': e.response['Error']['Code'],\n"
            "                'status': e.response['ResponseMetadata']['HTTPStatusCode']}\n"
            "    r.pop('ResponseMetadata', None)\n"
            "    return r\n"
            "def out(v):\n"
            "    json.dump(v, sys.stdout, default=str)\n")
        r = subprocess.run([SYS_PYTHON, "-c", prelude + script], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.aws_env(key_id, secret), timeout=scaled(60))
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        expect(r.returncode == 0, "boto3 script: exit %d, stderr %r" % (r.returncode, err[-800:]))
        j = json.loads(out)
        self._note_tokens(j)
        return j


def open_cli(relay, thing=THING, services=("SSH",), extra=()):
    j = relay.cli("open-tunnel", "--destination-config",
                  json.dumps({"thingName": thing, "services": list(services)}), *extra)
    for k in ("tunnelId", "tunnelArn", "sourceAccessToken", "destinationAccessToken"):
        expect(isinstance(j.get(k), str) and j[k], "open-tunnel: no %s in %r" % (k, list(j)))
    return j


# ==========================================================================

@timeout(240)
def test_aws_cli_lifecycle(t):
    relay = AwsRelay(t, verbose=5)
    j = open_cli(relay, services=("SSH", "HTTP"),
                 extra=("--description", "lab box", "--timeout-config", "maxLifetimeTimeoutMinutes=30",
                        "--tags", "key=team,value=ops", "key=site,value=lab 2"))
    tid, arn = j["tunnelId"], j["tunnelArn"]
    expect_eq(arn, "arn:aws:iotsecuretunneling:us-east-1:000000000000:tunnel/%s" % tid, "tunnelArn")

    # The tokens the CLI printed work on the data plane.
    echo = t.echo()
    dest = localproxy(t, "dest", ["-d", "SSH=127.0.0.1:%d,HTTP=127.0.0.1:%d" % (echo.port, echo.port)],
                      relay.port, j["destinationAccessToken"], ca=relay.ca)
    dest.wait_log(READY, scaled(10))
    ssh_port, http_port = free_port(), free_port()
    src = localproxy(t, "source", ["-s", "SSH=%d,HTTP=%d" % (ssh_port, http_port), "-b", "127.0.0.1"],
                     relay.port, j["sourceAccessToken"], ca=relay.ca)
    src.wait_log(READY, scaled(10))
    through(t, http_port, what="connection through a tunnel opened with the AWS CLI")

    d = relay.cli("describe-tunnel", "--tunnel-id", tid)["tunnel"]
    expect_eq(d["tunnelId"], tid, "describe tunnelId")
    expect_eq(d["status"], "OPEN", "describe status")
    expect_eq(d["description"], "lab box", "describe description")
    expect_eq(d["destinationConfig"], {"thingName": THING, "services": ["SSH", "HTTP"]},
              "describe destinationConfig")
    expect_eq(d["timeoutConfig"], {"maxLifetimeTimeoutMinutes": 30}, "describe timeoutConfig")
    expect_eq(d["sourceConnectionState"]["status"], "CONNECTED", "source connection state")
    expect_eq(d["destinationConnectionState"]["status"], "CONNECTED", "destination connection state")
    expect_eq(sorted((x["key"], x["value"]) for x in d["tags"]), [("site", "lab 2"), ("team", "ops")],
              "describe tags")
    expect(isinstance(d.get("createdAt"), str) and d["createdAt"][:2] == "20",
           "createdAt %r" % d.get("createdAt"))

    # The shorthand form docs/aws-api.md shows (one service: the CLI makes it a list).
    other = relay.cli("open-tunnel", "--destination-config", "thingName=nanopi-02,services=SSH")
    expect_eq(relay.cli("describe-tunnel", "--tunnel-id", other["tunnelId"])["tunnel"]["destinationConfig"],
              {"thingName": "nanopi-02", "services": ["SSH"]}, "shorthand destination config")
    mine = relay.cli("list-tunnels", "--thing-name", THING)["tunnelSummaries"]
    expect_eq([s["tunnelId"] for s in mine], [tid], "list-tunnels --thing-name")
    expect_eq(mine[0]["tunnelArn"], arn, "list tunnelArn")
    page = relay.cli("list-tunnels", "--max-results", 1)
    expect_eq([s["tunnelId"] for s in page["tunnelSummaries"]], [tid], "first page")
    page2 = relay.cli("list-tunnels", "--max-results", 1, "--next-token", page["nextToken"])
    expect_eq([s["tunnelId"] for s in page2["tunnelSummaries"]], [other["tunnelId"]], "second page")
    expect("nextToken" not in page2, "the last page has a nextToken: %r" % page2)

    r = relay.cli("rotate-tunnel-access-token", "--tunnel-id", tid, "--client-mode", "SOURCE")
    expect(r.get("sourceAccessToken") and r["sourceAccessToken"] != j["sourceAccessToken"] and
           "destinationAccessToken" not in r, "rotate SOURCE: %r" % list(r))
    expect_eq(r["tunnelArn"], arn, "rotate tunnelArn")

    relay.cli("tag-resource", "--resource-arn", arn, "--tags", "key=team,value=dev", "key=new,value=1")
    relay.cli("untag-resource", "--resource-arn", arn, "--tag-keys", "site", "absent")
    tags = relay.cli("list-tags-for-resource", "--resource-arn", arn)["tags"]
    expect_eq(sorted((x["key"], x["value"]) for x in tags), [("new", "1"), ("team", "dev")],
              "tags after tag and untag")

    relay.cli("close-tunnel", "--tunnel-id", tid)
    # Closing ends both localproxies (the relay closes their WebSockets).
    for p in (src, dest):
        p.wait_exit(scaled(10))
    expect_eq(relay.cli("describe-tunnel", "--tunnel-id", tid)["tunnel"]["status"], "CLOSED",
              "status after close-tunnel")
    relay.cli("close-tunnel", "--tunnel-id", tid, "--delete")
    relay.cli("describe-tunnel", "--tunnel-id", tid, error="ResourceNotFoundException")
    left = relay.cli("list-tunnels")["tunnelSummaries"]
    expect_eq([s["tunnelId"] for s in left], [other["tunnelId"]], "list after close --delete")
    expect_eq(relay.metrics().get('tunnel_relay_tunnels{status="closed"}'), 0,
              "a deleted tunnel counted as closed")

    # Refusals as the CLI reports them.
    relay.cli("list-tunnels", secret=secrets.token_urlsafe(30), error="InvalidSignatureException")
    relay.cli("list-tunnels", key_id="AKIANOSUCHKEY0000000", error="UnrecognizedClientException")
    relay.cli("describe-tunnel", "--tunnel-id", "no-such-tunnel", error="ResourceNotFoundException")
    relay.proc.wait_log(r"AWS API call refused: wrong signature \(access key %s\)" % KEY_ID, scaled(5))

    # Deleted stays deleted after a restart (the row is gone from the store).
    relay.stop_term()
    relay.start()
    left = relay.boto("out(call('list_tunnels'))")["tunnelSummaries"]
    expect_eq([s["tunnelId"] for s in left], [other["tunnelId"]], "list after restart")
    tags = relay.boto("out(call('describe_tunnel', tunnelId=%r))" % other["tunnelId"])["tunnel"]
    expect("tags" not in tags, "a tunnel opened without tags has tags: %r" % tags.get("tags"))


@timeout(180)
def test_aws_boto3_pagination_tags_and_restart(t):
    relay = AwsRelay(t)
    r = relay.boto(
        "ids = [call('open_tunnel', destinationConfig={'thingName': 'dev-%d' % (i % 2),\n"
        "        'services': ['SSH']}, tags=[{'key': 'n', 'value': str(i)}])['tunnelId'] for i in range(5)]\n"
        "pages, token = [], None\n"
        "while True:\n"
        "    kw = {'nextToken': token} if token else {}\n"
        "    p = call('list_tunnels', maxResults=2, **kw)\n"
        "    pages.append([s['tunnelId'] for s in p['tunnelSummaries']])\n"
        "    token = p.get('nextToken')\n"
        "    if not token:\n"
        "        break\n"
        "dev1 = [s['tunnelId'] for s in call('list_tunnels', thingName='dev-1')['tunnelSummaries']]\n"
        "arn = call('describe_tunnel', tunnelId=ids[0])['tunnel']['tunnelArn']\n"
        "call('tag_resource', resourceArn=arn, tags=[{'key': 'x', 'value': 'y'}])\n"
        "bad = [call('list_tunnels', nextToken='nope'),\n"
        "       call('describe_tunnel', tunnelId='missing'),\n"
        "       call('tag_resource', resourceArn='arn:aws:iot:eu-west-1:1:thing/x', tags=[{'key': 'a', 'value': 'b'}]),\n"
        "       call('tag_resource', resourceArn=arn, tags=[{'key': 'bad#key', 'value': 'b'}]),\n"
        "       call('open_tunnel', destinationConfig={'thingName': 'x', 'services': ['A', 'A']}),\n"
        "       call('rotate_tunnel_access_token', tunnelId='missing', clientMode='ALL')]\n"
        "out({'ids': ids, 'pages': pages, 'dev1': dev1, 'arn': arn, 'bad': bad})\n")
    ids = r["ids"]
    expect_eq(r["pages"], [ids[0:2], ids[2:4], ids[4:5]], "pages of 2")
    expect_eq(r["dev1"], [ids[1], ids[3]], "thingName filter")
    expect_eq([b.get("error") for b in r["bad"]],
              ["ValidationException", "ResourceNotFoundException", "ValidationException",
               "ValidationException", "ValidationException", "ResourceNotFoundException"],
              "boto3 error names")
    expect_eq(r["arn"].split(":")[3], "eu-west-1", "the ARN's region is the caller's")

    # Tags survive a restart (the tags column of the store).
    relay.stop_term()
    relay.start()
    tags = relay.boto("out(call('list_tags_for_resource', resourceArn=%r))" % r["arn"])["tags"]
    expect_eq(sorted((x["key"], x["value"]) for x in tags), [("n", "0"), ("x", "y")],
              "tags after a restart")
    # /api/v1 sees the same tunnels: one set of operations behind both APIs.
    listed = relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"]
    expect_eq(sorted(s["tunnelId"] for s in listed), sorted(ids), "/api/v1 list of AWS-opened tunnels")


# Signs a request, then changes it on the wire or signs with a clock off by
# more than AWS's 15 minutes.
REFUSALS = (
    "import datetime, botocore.auth\n"
    "good = call('open_tunnel', destinationConfig={'thingName': 'dev', 'services': ['SSH']})\n"
    "other = call('open_tunnel', destinationConfig={'thingName': 'dev', 'services': ['SSH']})\n"
    "def tamper(request, **kw):\n"
    "    body = request.body if isinstance(request.body, bytes) else request.body.encode()\n"
    "    request.body = body.replace(good['tunnelId'].encode(), other['tunnelId'].encode())\n"
    "c.meta.events.register('before-send.iotsecuretunneling.CloseTunnel', tamper)\n"
    "tampered = call('close_tunnel', tunnelId=good['tunnelId'], delete=True)\n"
    "c.meta.events.unregister('before-send.iotsecuretunneling.CloseTunnel', tamper)\n"
    "class Skewed(datetime.datetime):\n"
    "    @classmethod\n"
    "    def utcnow(cls):\n"
    "        return datetime.datetime.utcnow() - datetime.timedelta(minutes=SKEW)\n"
    "class Clock:\n"
    "    timezone = datetime.timezone\n"
    "    datetime = Skewed\n"
    "# botocore signs with the CRT's signer when python3-awscrt is there.\n"
    "signers = [botocore.auth]\n"
    "try:\n"
    "    import botocore.crt.auth\n"
    "    signers.append(botocore.crt.auth)\n"
    "except ImportError:\n"
    "    pass\n"
    "for m in signers:\n"
    "    m.datetime = Clock\n"
    "SKEW = 16\n"
    "stale = call('list_tunnels')\n"
    "SKEW = -16\n"
    "future = call('list_tunnels')\n"
    "SKEW = 14\n"
    "slow_clock_ok = call('list_tunnels')\n"
    "for m in signers:\n"
    "    m.datetime = datetime\n"
    "states = [call('describe_tunnel', tunnelId=x['tunnelId'])['tunnel']['status'] for x in (good, other)]\n"
    "out({'tampered': tampered, 'stale': stale, 'future': future,\n"
    "     'slow_clock_ok': 'tunnelSummaries' in slow_clock_ok, 'states': states})\n")


@timeout(120)
def test_aws_refusals_with_boto3(t):
    relay = AwsRelay(t, verbose=5)
    r = relay.boto(REFUSALS)
    expect_eq(r["tampered"], {"error": "InvalidSignatureException", "status": 403}, "tampered body")
    expect_eq(r["stale"], {"error": "InvalidSignatureException", "status": 403}, "date 16 min old")
    expect_eq(r["future"], {"error": "InvalidSignatureException", "status": 403}, "date 16 min ahead")
    expect(r["slow_clock_ok"], "a date 14 minutes old is within AWS's skew and must pass")
    expect_eq(r["states"], ["OPEN", "OPEN"], "states after the tampered close (neither closed)")

    bad = relay.boto("out([call('list_tunnels'), call('open_tunnel', destinationConfig="
                     "{'thingName': 'x', 'services': ['SSH']})])", secret=secrets.token_urlsafe(30))
    expect_eq(bad, [{"error": "InvalidSignatureException", "status": 403}] * 2, "wrong secret")
    unknown = relay.boto("out(call('list_tunnels'))", key_id="AKIANOSUCHKEY0000000")
    expect_eq(unknown, {"error": "UnrecognizedClientException", "status": 403}, "unknown key id")
    # The second key of the file works too.
    second = relay.boto("out(call('list_tunnels'))", key_id=OTHER_KEY_ID, secret=relay.other_secret)
    expect_eq(len(second.get("tunnelSummaries", [])), 2, "list with the second key")
    relay.proc.wait_log(r"AWS API call refused: expired date", scaled(5))
    relay.proc.wait_log(r"AWS API call refused: unknown access key \(access key AKIANOSUCHKEY", scaled(5))
    expect_eq(relay.curl("POST", "/", raw="{}", key=None,
                         headers=["X-Amz-Target: IoTSecuredTunneling.ListTunnels"]).json.get("__type"),
              "MissingAuthenticationTokenException", "unsigned request")
    # POST / without X-Amz-Target is not an AWS call: the usual 400.
    plain = relay.curl("POST", "/", raw="{}", key=None)
    expect(plain.status == 400 and "/api/v1" in plain.text, "POST / without X-Amz-Target: %r" % plain)


@timeout(60)
def test_aws_api_off_without_credentials(t):
    need_aws_tools()
    relay = AwsRelay(t, extra_args=())
    relay.cli("list-tunnels", error="AccessDeniedException")


@timeout(120)
def test_aws_open_notifies_device(t):
    need_mosquitto()
    d = make_mqtt_pki(t)
    broker = Broker(t, d)
    relay = AwsRelay(t, public_endpoint="self", verbose=5,
                     mqtt={"uri": "ssl://127.0.0.1:%d" % broker.port, "ca": str(d / "ca.pem"),
                           "cert": str(d / "relay-mqtt.pem"), "key": str(d / "relay-mqtt.key")})
    relay.proc.wait_log(r"MQTT: connected to broker", scaled(15), what="the relay's MQTT connection")
    sub = Sub(t, broker, THING, [topic(THING)], "sub-aws")
    j = open_cli(relay, services=("SSH",))
    msgs = sub.wait_count(1, scaled(10), "notification after open-tunnel")
    check_notification(msgs[0], THING, j, ["SSH"], "127.0.0.1:%d" % relay.port, "AWS open-tunnel")
    r = relay.cli("rotate-tunnel-access-token", "--tunnel-id", j["tunnelId"], "--client-mode", "DESTINATION")
    msgs = sub.wait_count(2, scaled(10), "notification after rotate DESTINATION")
    check_notification(msgs[1], THING, dict(j, destinationAccessToken=r["destinationAccessToken"]),
                       ["SSH"], "127.0.0.1:%d" % relay.port, "AWS rotate DESTINATION")
