#!/usr/bin/env python3
"""Databricks' own Python SDK (databricks-sdk, from PyPI) against the emulator.

A fidelity check of the emulated workspace for the ways in that need no browser: starts
`warehouse-emulator` (path as the first argument) with an admin token for its account API,
creates a service principal and an OAuth secret through the account API, and hands them to
the official `WorkspaceClient` as OAuth M2M credentials (`client_id`/`client_secret`: the SDK
discovers the token endpoint and asks for `client_credentials` itself) — then reads SCIM `Me`,
lists warehouses, runs a statement, and creates a personal access token, which a second
`WorkspaceClient` (`token=`) uses as Alice would. A deleted token must be refused the way
the SDK understands. If the emulator answers in a shape the official client cannot read,
this fails.

Exits non-zero on the first broken expectation.
"""
import json, secrets, subprocess, sys, tempfile, urllib.request

ADMIN = "emulator-admin-" + secrets.token_urlsafe(8)
WAREHOUSE = "abcdef1234567890"


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


def post(url, body, token):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def main():
    binary = sys.argv[1]
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.sql import StatementState

    token_file = tempfile.NamedTemporaryFile("w", delete=False)
    token_file.write(ADMIN)
    token_file.close()
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--control", "--admin-token-file", token_file.name],
                            stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        check(base.startswith("http://127.0.0.1:"), f"emulator serving at {base}")
        account = f"{base}/api/2.0/accounts/acct/servicePrincipals"
        sp = post(account, {"displayName": "sdk-check"}, ADMIN)
        secret = post(f"{account}/{sp['id']}/credentials/secrets", {}, ADMIN)["secret"]
        check(bool(sp["applicationId"]) and secret.startswith("dose"), "a service principal and its OAuth secret")

        m2m = WorkspaceClient(host=base, client_id=sp["applicationId"], client_secret=secret, auth_type="oauth-m2m")
        me = m2m.current_user.me()
        check(me.user_name == sp["applicationId"], f"OAuth M2M: SCIM Me is the principal ({me.user_name})")
        names = [w.name for w in m2m.warehouses.list()]
        check("Starter Warehouse" in names, f"warehouses.list: {names}")
        run = m2m.statement_execution.execute_statement(
            warehouse_id=WAREHOUSE, statement="SELECT current_user() AS who, count(*) AS n FROM samples.nyctaxi.trips",
            wait_timeout="30s")
        check(run.status.state == StatementState.SUCCEEDED, f"a statement as the principal: {run.status.state}")
        who, n = run.result.data_array[0]
        check(who == sp["applicationId"] and int(n) > 0, f"ran as the principal over nyctaxi: {who}, {n} rows")

        bad = WorkspaceClient(host=base, client_id=sp["applicationId"], client_secret="wrong", auth_type="oauth-m2m")
        try:
            bad.current_user.me()
            check(False, "a wrong secret is refused")
        except Exception as e:  # the SDK raises on the token endpoint's refusal
            check("invalid_client" in str(e) or "401" in str(e), f"a wrong secret is refused: {str(e)[:80]}")

        # A personal access token, created as alice (through a user token minted by the
        # emulator's control API would need a browser: the principal makes one for itself).
        created = m2m.tokens.create(comment="sdk-check", lifetime_seconds=3600)
        check(created.token_value.startswith("dapi"), "tokens.create: a dapi… token")
        pat = WorkspaceClient(host=base, token=created.token_value, auth_type="pat")
        check(pat.current_user.me().user_name == sp["applicationId"], "a PAT acts as its owner")
        listed = [t.token_id for t in m2m.tokens.list()]
        check(created.token_info.token_id in listed, f"tokens.list: {listed}")
        m2m.tokens.delete(token_id=created.token_info.token_id)
        try:
            pat.current_user.me()
            check(False, "a deleted PAT is refused")
        except DatabricksError as e:
            check("Invalid access token" in str(e), f"a deleted PAT is refused as Databricks does: {e}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
