"""Reads one statement's whole result with the Databricks Python SDK, as a user would:
statement_execution.execute_statement, then every remaining chunk, four at a time (the
chunk concurrency of Lakegate's client, which the bench compares it with). The workspace and token
come from the environment (DATABRICKS_HOST, DATABRICKS_TOKEN), never from argv.

Prints one JSON line: {"rows": N, "seconds": S} for the median of REPEAT runs.
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor
import statistics
import time

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import Disposition, Format

warehouse = os.environ["BENCH_WAREHOUSE"]
statement = os.environ["BENCH_STATEMENT"]
repeat = int(os.environ.get("BENCH_REPEAT", "5"))
w = WorkspaceClient(host=os.environ["DATABRICKS_HOST"], token=os.environ["DATABRICKS_TOKEN"])


def read_all():
    r = w.statement_execution.execute_statement(
        warehouse_id=warehouse,
        statement=statement,
        wait_timeout="50s",
        disposition=Disposition.INLINE,
        format=Format.JSON_ARRAY,
    )
    assert r.status.state.value == "SUCCEEDED", r.status
    rows = len(r.result.data_array or [])

    def chunk(i):
        return len(w.statement_execution.get_statement_result_chunk_n(r.statement_id, i).data_array or [])

    with ThreadPoolExecutor(max_workers=4) as pool:
        rows += sum(pool.map(chunk, range(1, r.manifest.total_chunk_count)))
    return rows


times = []
rows = 0
for _ in range(repeat):
    t = time.perf_counter()
    rows = read_all()
    times.append(time.perf_counter() - t)
print(json.dumps({"rows": rows, "seconds": statistics.median(times)}))
