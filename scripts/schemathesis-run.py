#!/usr/bin/env python3
"""Schemathesis against a running Lakegate, every check on.

Starts `lakegate demo --fresh --preconfigured --emulator-tls` on free ports, seeds it through
its own API with real objects (an admin API token with every scope, a connection signed in
to the emulated Databricks, a finished query, a user and a connection and a token to delete),
points every `{id}` at one of them, and runs `st run` with all checks. Exit status is
Schemathesis's: non-zero on any server error, schema violation, or schema-valid request
refused.

    scripts/schemathesis-run.py target/debug/lakegate .venv/bin/st
"""

import os
import subprocess
import sys
import tempfile

from demo_session import seed, start_demo


def config(base, ids):
    conn = ids["connection"]
    lines = [
        f'base-url = "{base}"',
        "workers = 1",
        "",
        "[auth.openapi.bearer]",
        f'bearer = "{ids["token"]}"',
        "",
        "[generation]",
        "max-examples = 25",
        "",
        # A warehouse or provider refusing a well-formed request (a statement that fails, a
        # workspace host that does not resolve) is 422: the request was valid, the world
        # said no. A query's result is rows or Arrow from its submission on, so asking a
        # finished query for the other kind is 406 (as is Arrow from a warehouse without
        # it). Everything else a valid request may get is Schemathesis's default list.
        "[checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "406", "409", "422", "429"]',
        "",
    ]
    # One entry per operation (Schemathesis uses the first entry that matches).
    ops = {}
    connection_routes = [
        "/api/v1/connections/{id}", "/api/v1/connections/{id}/sign-in",
        "/api/v1/connections/{id}/credential", "/api/v1/connections/{id}/test",
        "/api/v1/connections/{id}/access-token", "/api/v1/connections/{id}/queries",
        "/api/v1/connections/{id}/warehouses", "/api/v1/connections/{id}/catalogs",
        "/api/v1/connections/{id}/catalogs/{catalog}/schemas",
        "/api/v1/connections/{id}/catalogs/{catalog}/schemas/{schema}/tables"]
    for path in connection_routes:
        for method in ["GET", "POST", "PATCH", "DELETE"]:
            ops[(path, method)] = [f'parameters = {{ "path.id" = "{conn}", "path.catalog" = "samples", '
                                   f'"path.schema" = "nyctaxi" }}']
    ops[("/api/v1/connections/{id}", "DELETE")] = [f'parameters = {{ "path.id" = "{ids["spare_connection"]}" }}']
    # Signing the seeded user out, or deleting the integration (which voids every
    # credential), would turn every later call into a 409: not run here (the integration
    # suites cover both).
    ops[("/api/v1/connections/{id}/credential", "DELETE")] = ["enabled = false"]
    ops[("/api/v1/integrations/databricks-oauth-u2m", "DELETE")] = ["enabled = false"]
    ops[("/api/v1/integrations/snowflake-oauth", "DELETE")] = ["enabled = false"]
    ops[("/api/v1/integrations/bigquery-oauth", "DELETE")] = ["enabled = false"]
    for method in ["PATCH", "DELETE"]:
        ops[("/api/v1/users/{id}", method)] = [f'parameters = {{ "path.id" = "{ids["user"]}" }}']
    ops[("/api/v1/tokens/{id}", "DELETE")] = [f'parameters = {{ "path.id" = "{ids["spare_token"]}" }}']
    for path, method in [("/api/v1/webhooks/{id}", "GET"), ("/api/v1/webhooks/{id}", "PATCH"),
                         ("/api/v1/webhooks/{id}/deliveries", "GET"),
                         ("/api/v1/webhooks/{id}/rotate-secret", "POST"),
                         ("/api/v1/webhooks/{id}/deliveries/{message_id}/replay", "POST")]:
        ops[(path, method)] = [f'parameters = {{ "path.id" = "{ids["webhook"]}" }}']
    ops[("/api/v1/webhooks/{id}", "DELETE")] = [f'parameters = {{ "path.id" = "{ids["spare_webhook"]}" }}']
    for path in ["/api/v1/queries/{id}", "/api/v1/queries/{id}/cancel"]:
        for method in ["GET", "POST"]:
            ops[(path, method)] = [f'parameters = {{ "path.id" = "{ids["query"]}" }}']
    # What JSON Schema cannot say, so a schema-valid request may rightly be refused (400):
    # query parameters must have distinct names; an integration's host must be a workspace
    # (or operator-allowed) host, its scopes must include offline_access and all-apis or
    # sql, and its absolute session lifetime must not be shorter than the refresh token's
    # (a Snowflake account must answer and accept the client; BigQuery takes no host but
    # Google's, and the host is required for the others);
    # a return origin must be https (plain http only on loopback) and a connect session's
    # return URL on the org's allow-list; an SSO issuer must be reachable and serve its
    # discovery document; creating an end user needs an email (updating one does not); a
    # session role only on connections whose provider has them (the seeded one is Databricks);
    # a vendor's name for a setting (`warehouse`) next to its neutral twin (`warehouse_id`)
    # with another value; a workspace added to the integration must be such a host too;
    # a webhook URL must be an http(s) URL whose address the webhook client may reach.
    # Every other check still runs on these.
    for key in [("/api/v1/connections/{id}/queries", "POST"),
                ("/api/v1/connections", "POST"),
                ("/api/v1/connections/{id}", "PATCH"),
                ("/api/v1/integrations/databricks-oauth-u2m", "PUT"),
                ("/api/v1/integrations/snowflake-oauth", "PUT"),
                ("/api/v1/integrations/bigquery-oauth", "PUT"),
                ("/api/v1/integrations/databricks-oauth-u2m/hosts", "POST"),
                ("/api/v1/org", "PATCH"),
                ("/api/v1/connect-sessions", "POST"),
                ("/api/v1/sso", "PUT"),
                ("/api/v1/users/by-external-id/{external_id}", "PUT"),
                ("/api/v1/webhooks", "POST"),
                ("/api/v1/webhooks/{id}", "PATCH")]:
        ops.setdefault(key, []).append("checks.positive_data_acceptance.enabled = false")
    # `include-name` is the operation's label; separate include-path/include-method
    # filters would match either.
    entries = [
        f'[[operations]]\ninclude-name = "{method} {path}"\n' + "\n".join(body) + "\n"
        for (path, method), body in ops.items()
    ]
    return "\n".join(lines) + "\n" + "\n".join(entries)


def main():
    binary, st = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, password = start_demo(os.path.abspath(binary), tmp)
        try:
            ids = seed(base, password, os.path.join(tmp, "demo", "emulator-ca.pem"))
            cfg = os.path.join(tmp, "schemathesis.toml")
            with open(cfg, "w") as f:
                f.write(config(base, ids))
            report = os.path.join(tmp, "report")
            result = subprocess.run(
                # Every check is on by default; `--checks all` would also override the two
                # per-operation exceptions above.
                [st, "--config-file", cfg, "run", f"{base}/api/openapi.json", "--seed", "1",
                 "--report", "junit", "--report-dir", os.environ.get("SCHEMATHESIS_REPORT_DIR", tmp)],
                check=False)
            sys.exit(result.returncode)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
