#!/usr/bin/env python3
"""Walks the Databricks emulator binary through the journey Lakegate depends on.

Starts `warehouse-emulator` (path given as the first argument), registers an app
connection, signs in on the authorize page as a user, redeems the code with PKCE,
refreshes with rotation (a reused refresh token must kill the family and the counters must
show it), lists warehouses and catalogs (following next_page_token), and runs a multi-chunk
query over samples.nyctaxi.trips that succeeds for alice and fails for bob.

Standard library only. Exits non-zero on the first broken expectation.
"""
import base64, hashlib, json, os, secrets, subprocess, sys, tempfile, urllib.error, urllib.parse, urllib.request

from pages import hidden_fields

REDIRECT = "http://127.0.0.1:8080/connections/oauth/databricks/callback"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(method, url, body=None, headers=None, form=False):
    data = None
    headers = dict(headers or {})
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with OPENER.open(req) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        sys.exit(1)


def sign_in(base, app, email, password, scope="all-apis offline_access"):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT,
                                "scope": scope, "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"})
    status, _, page = call("GET", f"{base}/oidc/v1/authorize?{q}")
    check(status == 200, f"{email}: the authorize page shows a login form")
    fields = hidden_fields(page)
    status, _, page = call("POST", f"{base}/oidc/v1/authorize/login", {"request": fields["request"], "email": email, "password": password}, form=True)
    check(status == 200 and "Allow" in page, f"{email}: signed in, consent page shown")
    status, headers, _ = call("POST", f"{base}/oidc/v1/authorize/consent", {"request": fields["request"], "decision": "allow"}, form=True)
    location = headers.get("Location") or headers.get("location")
    check(status in (302, 303) and location.startswith(REDIRECT), f"{email}: redirected back with a code")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
    status, _, body = call("POST", f"{base}/oidc/v1/token", {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
                                                              "code_verifier": verifier, "client_id": app["client_id"], "client_secret": app["client_secret"]}, form=True)
    tokens = json.loads(body)
    check(status == 200 and tokens["refresh_token"].startswith("doau"), f"{email}: code redeemed for tokens")
    return tokens


def refresh(base, app, rt):
    return call("POST", f"{base}/oidc/v1/token", {"grant_type": "refresh_token", "refresh_token": rt,
                                                  "client_id": app["client_id"], "client_secret": app["client_secret"]}, form=True)


def get(base, token, path):
    status, _, body = call("GET", base + path, headers={"Authorization": f"Bearer {token}"})
    return status, json.loads(body)


def pages(base, token, path, key):
    items, n, token_q = [], 0, ""
    while True:
        sep = "&" if "?" in path else "?"
        status, page = get(base, token, path + (f"{sep}page_token={token_q}" if token_q else ""))
        check(status == 200, f"GET {path} page {n + 1}")
        items += page[key]; n += 1
        if "next_page_token" not in page:
            return items, n
        token_q = page["next_page_token"]


def main():
    binary = sys.argv[1]
    admin = tempfile.NamedTemporaryFile("w", delete=False)
    admin.write(secrets.token_hex(16)); admin.close()
    admin_token = open(admin.name).read()
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--control", "--admin-token-file", admin.name], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base = line.strip().rsplit(" ", 1)[-1]
        check(base.startswith("http://127.0.0.1:"), f"emulator serving at {base}")
        status, _, body = call("POST", f"{base}/api/2.0/accounts/acct/oauth2/custom-app-integrations",
                               {"name": "Lakegate", "redirect_urls": [REDIRECT], "confidential": True, "scopes": ["all-apis"],
                                "token_access_policy": {"access_token_ttl_in_minutes": 60, "refresh_token_ttl_in_minutes": 10080,
                                                        "enable_single_use_refresh_tokens": True}},
                               headers={"Authorization": f"Bearer {admin_token}"})
        app = json.loads(body)
        check(status == 200 and app["client_secret"].startswith("dose"), "app connection registered (confidential, rotating)")

        t = sign_in(base, app, "alice@example.com", "alice")
        status, _, body = refresh(base, app, t["refresh_token"])
        rt2 = json.loads(body)["refresh_token"]
        check(status == 200 and rt2 != t["refresh_token"], "refresh rotated the refresh token")
        status, _, body = refresh(base, app, t["refresh_token"])
        check(status == 401 and json.loads(body) == {"error": "invalid_request", "error_description": "Refresh token is invalid"},
              "reusing the rotated token answers 401 invalid_request")
        status, _, _ = refresh(base, app, rt2)
        check(status == 401, "the whole family is revoked")
        _, _, body = call("GET", f"{base}/emulator/control/counters")
        counters = json.loads(body)
        check(counters["reuse_detections"] == 1 and counters["refresh_rotations"] == 1, f"counters show the reuse: {counters}")

        alice = sign_in(base, app, "alice@example.com", "alice")["access_token"]
        bob = sign_in(base, app, "bob@example.com", "bob")["access_token"]
        status, me = get(base, alice, "/api/2.0/preview/scim/v2/Me")
        check(status == 200 and me["userName"] == "alice@example.com", "SCIM Me says alice")
        status, whs = get(base, alice, "/api/2.0/sql/warehouses")
        wh = whs["warehouses"][0]
        check(status == 200 and wh["state"] == "RUNNING", f"warehouse {wh['id']} is running")
        cats, n = pages(base, alice, "/api/2.1/unity-catalog/catalogs", "catalogs")
        check([c["name"] for c in cats] == ["main", "samples"], f"alice sees catalogs main, samples ({n} page(s))")
        cats, _ = pages(base, bob, "/api/2.1/unity-catalog/catalogs", "catalogs")
        check([c["name"] for c in cats] == ["samples"], "bob sees samples only")

        query = ("SELECT t.tpep_pickup_datetime, t.fare_amount, t.pickup_zip, n.n_name FROM samples.nyctaxi.trips t "
                 "LEFT JOIN samples.tpch.nation n ON n.n_nationkey = t.pickup_zip % 25")
        body = {"warehouse_id": wh["id"], "statement": query, "wait_timeout": "50s"}
        status, _, text = call("POST", f"{base}/api/2.0/sql/statements", body, headers={"Authorization": f"Bearer {alice}"})
        r = json.loads(text)
        check(status == 200 and r["status"]["state"] == "SUCCEEDED", "alice's query succeeded")
        total, chunks = r["manifest"]["total_row_count"], r["manifest"]["total_chunk_count"]
        rows = len(r["result"]["data_array"])
        for i in range(1, chunks):
            _, c = get(base, alice, f"/api/2.0/sql/statements/{r['statement_id']}/result/chunks/{i}")
            rows += len(c["data_array"])
        check(chunks > 1 and rows == total == 100000, f"{chunks} chunks, {rows} rows fetched")
        status, _, text = call("POST", f"{base}/api/2.0/sql/statements", body, headers={"Authorization": f"Bearer {bob}"})
        r = json.loads(text)
        check(status == 200 and r["status"]["state"] == "FAILED" and r["status"]["error"]["message"].startswith("[INSUFFICIENT_PERMISSIONS]"),
              "the same query fails for bob: no SELECT on samples.tpch.nation")
        print("walkthrough complete")
    finally:
        proc.terminate(); proc.wait(timeout=10)
        os.unlink(admin.name)


if __name__ == "__main__":
    main()
