"""A running, seeded `lakegate demo` for the checks that drive Lakegate from outside
(Schemathesis, the Arrow reader check): starts `lakegate demo --fresh --preconfigured
--emulator-tls` on free ports and seeds it through its own API with real objects (an admin
API token with every scope, a connection signed in to the emulated Databricks, a finished
query, a webhook endpoint, a user and a connection and a token and an endpoint to delete)."""

import os
import re
import socket
import subprocess
import time

import requests

from pages import hidden_fields as hidden


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(binary, data_dir):
    port, emu_port = free_port(), free_port()
    log = open(os.path.join(data_dir, "demo.log"), "w")
    proc = subprocess.Popen(
        [binary, "demo", "--fresh", "--preconfigured", "--emulator-tls", "--data-dir",
         os.path.join(data_dir, "demo"), "--port", str(port), "--emulator-port", str(emu_port)],
        stdout=subprocess.PIPE, stderr=log, text=True)
    banner = ""
    deadline = time.monotonic() + 120
    while "Ctrl+C" not in banner:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"the demo did not start:\n{banner}")
        banner += proc.stdout.readline()
    password = re.search(r"admin@example\.com\s+(\S+)", banner).group(1)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the demo never became ready")
        time.sleep(0.2)
    return proc, base, password


def ok(resp, *statuses):
    if resp.status_code not in statuses:
        raise SystemExit(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text}")
    return resp


def seed(base, password, ca):
    s = requests.Session()
    page = s.get(f"{base}/login").text
    ok(s.post(f"{base}/login", data={"org": "demo", "email": "admin@example.com",
                                      "password": password, "csrf_token": hidden(page)["csrf_token"]},
              allow_redirects=False), 303)
    csrf = s.get(f"{base}/api/v1/me").json()["csrf_token"]
    s.headers["x-csrf-token"] = csrf

    scopes = ["connections:read", "connections:write", "queries:run", "tokens:vend", "admin"]
    token = ok(s.post(f"{base}/api/v1/tokens", json={"name": "schemathesis", "scopes": scopes}), 201).json()
    spare_token = ok(s.post(f"{base}/api/v1/tokens", json={"name": "to revoke", "scopes": ["connections:read"]}), 201).json()
    user = ok(s.post(f"{base}/api/v1/users", json={"email": "target@example.com", "role": "viewer",
                                                  "password": "a-long-enough-password"}), 201).json()
    conn = ok(s.post(f"{base}/api/v1/connections", json={"name": "Sales", "provider": "databricks",
                                                        "auth": "oauth-u2m", "shared": True,
                                                        "warehouse_id": "abcdef1234567890"}), 201).json()
    spare_conn = ok(s.post(f"{base}/api/v1/connections", json={"name": "To delete", "provider": "databricks",
                                                              "auth": "oauth-u2m"}), 201).json()
    webhook = ok(s.post(f"{base}/api/v1/webhooks", json={"url": "https://hooks.example.com/lakegate",
                                                         "events": ["connection.created"]}), 201).json()
    spare_webhook = ok(s.post(f"{base}/api/v1/webhooks", json={"url": "https://hooks.example.com/spare",
                                                               "events": ["connection.deleted"]}), 201).json()

    # The admin signs in to the emulated Databricks on the kept connection.
    link = ok(s.post(f"{base}/api/v1/connections/{conn['id']}/sign-in", json={}), 200).json()["sign_in_url"]
    authorize = ok(s.get(link, allow_redirects=False), 303).headers["location"]
    emu = requests.Session()
    emu.trust_env = False  # else REQUESTS_CA_BUNDLE would replace `verify`
    emu.verify = ca  # the emulator's certificate comes from the demo's own CA
    page = ok(emu.get(authorize), 200).text
    emu_base = authorize.split("/oidc/")[0]
    req = hidden(page)["request"]
    ok(emu.post(f"{emu_base}/oidc/v1/authorize/login",
                data={"request": req, "email": "alice@example.com", "password": "alice"}), 200)
    callback = ok(emu.post(f"{emu_base}/oidc/v1/authorize/consent",
                           data={"request": req, "decision": "allow"}, allow_redirects=False), 303).headers["location"]
    landed = ok(s.get(callback, allow_redirects=False), 303).headers["location"]
    if not landed.endswith("signin=ok"):
        raise SystemExit(f"the sign-in did not finish: {landed}")

    bearer = {"authorization": f"Bearer {token['token']}"}
    query = ok(requests.post(f"{base}/api/v1/connections/{conn['id']}/queries", headers=bearer,
                             json={"statement": "SELECT 1 AS one"}), 200).json()
    return {
        "token": token["token"],
        "connection": conn["id"],
        "spare_connection": spare_conn["id"],
        "user": user["id"],
        "spare_token": spare_token["id"],
        "query": query["query_id"],
        "webhook": webhook["id"],
        "spare_webhook": spare_webhook["id"],
    }
