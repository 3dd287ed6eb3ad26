#!/usr/bin/env python3
"""Google's own BigQuery client (google-cloud-bigquery, from PyPI) against the emulator.

A fidelity check of the emulated Google and BigQuery: starts `warehouse-emulator` (path as
the first argument) with a Google OAuth client, signs alice in on the emulated Google pages
(offline access, PKCE S256, ticking BigQuery), redeems the code, and hands the access token
to the official client, pointed at the emulator with `client_options.api_endpoint` — then
runs a query with `query_and_wait`, lists projects, datasets and tables, reads a table's
schema, and expects Google's errors where BigQuery gives them. If the emulator answers in a
shape the official client cannot read, this fails.

Exits non-zero on the first broken expectation.
"""
import base64, hashlib, json, secrets, subprocess, sys, tempfile, urllib.parse, urllib.request

from pages import hidden_fields

REDIRECT = "http://127.0.0.1:8080/connections/oauth/bigquery/callback"
CLIENT_ID = "100200300400-check.apps.googleusercontent.com"
SECRET = "GOCSPX-" + secrets.token_urlsafe(12)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


def send(method, url, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with OPENER.open(req) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def sign_in(base):
    """alice's access token, through the emulated Google's pages."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    bq = "https://www.googleapis.com/auth/bigquery"
    query = urllib.parse.urlencode({
        "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": f"openid email {bq}", "state": "s", "access_type": "offline", "prompt": "consent",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    status, _, page = send("GET", f"{base}/o/oauth2/v2/auth?{query}")
    request = hidden_fields(page)["request"]
    send("POST", f"{base}/o/oauth2/v2/auth/login", {"request": request, "email": "alice@example.com", "password": "alice"})
    body = urllib.parse.urlencode([("request", request), ("decision", "allow"), ("scope", bq)]).encode()
    req = urllib.request.Request(f"{base}/o/oauth2/v2/auth/consent", data=body, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        OPENER.open(req)
        location = ""
    except urllib.error.HTTPError as e:
        location = e.headers.get("Location", "")
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)).get("code")
    check(bool(code), "signed in on the emulated Google's pages")
    status, _, body = send("POST", f"{base}/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID, "client_secret": SECRET, "code_verifier": verifier})
    tokens = json.loads(body)
    check(status == 200 and "refresh_token" in tokens, "code redeemed (with a refresh token)")
    return tokens["access_token"]


def main():
    binary = sys.argv[1]
    from google.api_core import exceptions
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery
    from google.oauth2.credentials import Credentials

    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    config.write(f'[[google_clients]]\nclient_id = "{CLIENT_ID}"\nclient_secret = "{SECRET}"\nredirect_uris = ["{REDIRECT}"]\n')
    config.close()
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--config", config.name], stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        check(base.startswith("http://127.0.0.1:"), f"emulator serving at {base}")
        token = sign_in(base)
        client = bigquery.Client(project="lakegate-samples", credentials=Credentials(token),
                                 client_options=ClientOptions(api_endpoint=base))
        rows = list(client.query_and_wait(
            "SELECT SESSION_USER() AS who, COUNT(*) AS trips FROM `lakegate-samples.nyctaxi.trips`"))
        check(len(rows) == 1 and rows[0]["who"] == "alice@example.com" and rows[0]["trips"] > 0,
              f"query_and_wait ran as alice: {[dict(r) for r in rows]}")
        ts = list(client.query_and_wait(
            "SELECT tpep_pickup_datetime AS t FROM `lakegate-samples.nyctaxi.trips` ORDER BY t LIMIT 1"))
        check(ts[0]["t"].tzinfo is not None, f"a TIMESTAMP reads back as an aware datetime: {ts[0]['t']!r}")
        projects = [p.project_id for p in client.list_projects()]
        check(projects == ["lakegate-samples", "lakegate-finance"], f"list_projects: {projects}")
        datasets = [d.dataset_id for d in client.list_datasets(page_size=1)]
        check(datasets == ["nyctaxi", "tpch"], f"list_datasets (paged): {datasets}")
        tables = [t.table_id for t in client.list_tables("lakegate-samples.tpch")]
        check("orders" in tables, f"list_tables: {tables}")
        table = client.get_table("lakegate-samples.nyctaxi.trips")
        check(table.schema[0].field_type == "TIMESTAMP", f"get_table schema: {table.schema[0]}")
        try:
            client.query_and_wait("SELECT * FROM `lakegate-samples.nyctaxi.nope`")
            check(False, "a missing table fails")
        except exceptions.NotFound as e:
            check(True, f"a missing table is NotFound: {e.message[:60]}")
        try:
            client.query_and_wait("SELEC 1")
            check(False, "bad SQL fails")
        except exceptions.BadRequest as e:
            check(True, f"bad SQL is BadRequest: {e.message[:60]}")
        print("google-cloud-bigquery reads the emulator")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
