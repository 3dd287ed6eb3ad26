#!/usr/bin/env python3
"""Lakegate's Arrow answers as data apps read them: pyarrow and polars from PyPI.

Starts a seeded `lakegate demo` (scripts/demo_session.py), runs one statement for an Arrow
answer (`Accept: application/vnd.apache.arrow.stream`, several result parts spliced into
one stream) and the same statement for JSON, and compares every value: pyarrow's table and
polars' frame must hold exactly the JSON answer's rows. An empty result must still carry
its schema. Exits non-zero on any difference.

    scripts/arrow-check.py target/debug/lakegate
"""

import datetime
import io
import os
import sys
import tempfile

import polars
import pyarrow
import pyarrow.ipc
import requests

from demo_session import seed, start_demo

ARROW = "application/vnd.apache.arrow.stream"
STATEMENT = ("SELECT * FROM samples.nyctaxi.trips "
             "ORDER BY tpep_pickup_datetime, trip_distance, fare_amount")
ROWS = 5000


def query(base, token, conn, statement, accept, row_limit=ROWS):
    resp = requests.post(f"{base}/api/v1/connections/{conn}/queries",
                         headers={"authorization": f"Bearer {token}", "accept": accept},
                         json={"statement": statement, "row_limit": row_limit}, timeout=120)
    if resp.status_code != 200:
        raise SystemExit(f"{accept}: {resp.status_code} {resp.text}")
    if resp.headers["content-type"].split(";")[0] != accept:
        raise SystemExit(f"asked for {accept}, got {resp.headers['content-type']}")
    return resp


def expected_cell(value, arrow_type):
    """A JSON answer's value as the Arrow reader should hold it."""
    if value is None:
        return None
    if pyarrow.types.is_timestamp(arrow_type):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def compare(name, columns, got_rows, json_answer, types):
    want = json_answer["rows"]
    if columns != [c["name"] for c in json_answer["columns"]]:
        raise SystemExit(f"{name}: columns {columns} != {[c['name'] for c in json_answer['columns']]}")
    if len(got_rows) != len(want):
        raise SystemExit(f"{name}: {len(got_rows)} rows, the JSON answer has {len(want)}")
    for i, (got, row) in enumerate(zip(got_rows, want)):
        expected = [expected_cell(v, t) for v, t in zip(row, types)]
        if list(got) != expected:
            raise SystemExit(f"{name}: row {i} is {list(got)}, the JSON answer says {expected}")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, password = start_demo(os.path.abspath(binary), tmp)
        try:
            ids = seed(base, password, os.path.join(tmp, "demo", "emulator-ca.pem"))
            token, conn = ids["token"], ids["connection"]
            body = query(base, token, conn, STATEMENT, ARROW).content
            json_answer = query(base, token, conn, STATEMENT, "application/json").json()

            table = pyarrow.ipc.open_stream(io.BytesIO(body)).read_all()
            types = [f.type for f in table.schema]
            compare("pyarrow", table.column_names, [tuple(r.values()) for r in table.to_pylist()],
                    json_answer, types)
            frame = polars.read_ipc_stream(io.BytesIO(body))
            compare("polars", frame.columns, frame.rows(), json_answer, types)
            if json_answer["row_count"] != ROWS:
                raise SystemExit(f"expected {ROWS} rows, got {json_answer['row_count']}")

            empty = query(base, token, conn, "SELECT fare_amount, pickup_zip FROM samples.nyctaxi.trips WHERE 1 = 0",
                          ARROW).content
            empty_table = pyarrow.ipc.open_stream(io.BytesIO(empty)).read_all()
            if empty_table.num_rows != 0 or empty_table.column_names != ["fare_amount", "pickup_zip"]:
                raise SystemExit(f"an empty result: {empty_table.schema}, {empty_table.num_rows} rows")
            if polars.read_ipc_stream(io.BytesIO(empty)).shape != (0, 2):
                raise SystemExit("polars reads the empty result differently")
            print(f"pyarrow {pyarrow.__version__} and polars {polars.__version__} read {table.num_rows} rows "
                  f"({len(types)} columns: {', '.join(str(t) for t in types)}) exactly as the JSON answer, "
                  "and an empty result with its schema")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
