// Copy buttons: <button data-copy="element-id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// The SQL console on a connection's page. Queries run asynchronously (wait: false) and are
// polled, so a long statement never blocks the page; every value is inserted as text.
const consoleRoot = document.getElementById("console");
if (consoleRoot) sqlConsole(consoleRoot);

function sqlConsole(root) {
  const conn = root.dataset.connection;
  const csrf = root.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const sql = $("sql"), runButton = $("run-query"), cancelButton = $("cancel-query");
  const progress = $("query-progress"), errorBox = $("query-error"), results = $("query-results");
  const table = $("result-table"), rowCount = $("query-row-count"), download = $("download-csv");
  const pageInfo = $("page-info"), prev = $("page-prev"), next = $("page-next");
  const PAGE = 100;
  let current = null;
  let result = { columns: [], rows: [] };
  let page = 0;

  async function api(method, path, body) {
    const resp = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "accept": "application/json", "content-type": "application/json", "x-csrf-token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await resp.json(); } catch { data = null; }
    return { status: resp.status, data };
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function setProgress(state, running) {
    progress.replaceChildren();
    if (running) progress.append(document.createElement("progress"));
    const seconds = current ? ((Date.now() - current.started) / 1000).toFixed(1) : null;
    progress.append(document.createTextNode(seconds === null ? state : `${state} · ${seconds} s`));
  }

  function finish() {
    if (current && current.timer) clearInterval(current.timer);
    current = null;
    runButton.disabled = false;
    cancelButton.hidden = true;
    loadHistory();
  }

  async function run() {
    if (current) return;
    const statement = sql.value.trim();
    if (!statement) return;
    errorBox.hidden = true;
    results.hidden = true;
    runButton.disabled = true;
    cancelButton.hidden = false;
    current = { started: Date.now(), state: "SUBMITTING", id: null };
    const me = current;
    me.timer = setInterval(() => setProgress(me.state, true), 200);
    setProgress(me.state, true);
    const submitted = await api("POST", `/api/v1/connections/${conn}/queries`, { statement, wait: false });
    if (current !== me) return;
    if (submitted.status !== 202 && submitted.status !== 200) return fail(submitted);
    me.id = submitted.data.query_id;
    me.state = submitted.data.state || "PENDING";
    if (me.cancelRequested) return cancel();
    let delay = 250;
    while (current === me) {
      await sleep(delay);
      delay = Math.min(delay * 1.5, 2000);
      if (current !== me) return;
      const polled = await api("GET", `/api/v1/queries/${me.id}`);
      if (current !== me) return;
      if (polled.status === 202) { me.state = polled.data.state; continue; }
      if (polled.status !== 200) return fail(polled);
      setProgress("Finished", false);
      show(polled.data, me.id);
      return finish();
    }
  }

  /** The warehouse's estimate of what the statement would read, without running it. */
  async function dryRun() {
    const statement = sql.value.trim();
    if (current || !statement) return;
    errorBox.hidden = true;
    const answer = await api("POST", `/api/v1/connections/${conn}/queries`, { statement, dry_run: true });
    if (answer.status !== 200) {
      const e = answer.data && answer.data.error;
      progress.textContent = "Dry run failed";
      return showError(e ? e.message : `Lakegate answered ${answer.status}`);
    }
    progress.textContent = `Dry run: this query will process ${bytes(answer.data.bytes_processed)}.`;
  }

  function bytes(n) {
    const units = ["bytes", "KB", "MB", "GB", "TB", "PB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
  }

  function fail(answer) {
    const e = answer.data && answer.data.error;
    const message = e ? e.message : `Lakegate answered ${answer.status}`;
    setProgress(e && e.code === "query_cancelled" ? "Cancelled" : "Failed", false);
    showError(message + (e && e.sql_state ? ` (SQLSTATE ${e.sql_state})` : ""));
    finish();
  }

  async function cancel() {
    if (!current) return;
    const me = current;
    if (!me.id) { me.cancelRequested = true; return; }
    const answer = await api("POST", `/api/v1/queries/${me.id}/cancel`);
    if (current !== me) return;
    setProgress(answer.status === 200 ? "Cancelled" : "Cancel failed", false);
    if (answer.status !== 200) showError((answer.data && answer.data.error && answer.data.error.message) || "cancel failed");
    finish();
  }

  function show(data, id) {
    result = { columns: data.columns, rows: data.rows };
    page = 0;
    rowCount.textContent = `${data.row_count.toLocaleString()} row${data.row_count === 1 ? "" : "s"}` +
      (data.truncated ? " (truncated: the result has more rows; download or use the API to stream them)" : "");
    download.href = `/api/v1/queries/${encodeURIComponent(id)}?format=csv&spreadsheet_safe=true`;
    results.hidden = false;
    render();
  }

  function render() {
    const head = document.createElement("tr");
    for (const c of result.columns) {
      const th = document.createElement("th");
      th.textContent = c.name;
      th.title = c.type_text || c.type;
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const body = [];
    for (const row of result.rows.slice(page * PAGE, (page + 1) * PAGE)) {
      const tr = document.createElement("tr");
      for (const v of row) {
        const td = document.createElement("td");
        if (v === null) { td.textContent = "NULL"; td.className = "null"; }
        else td.textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
        tr.append(td);
      }
      body.push(tr);
    }
    table.tBodies[0].replaceChildren(...body);
    const pages = Math.max(1, Math.ceil(result.rows.length / PAGE));
    pageInfo.textContent = `Page ${page + 1} of ${pages}`;
    prev.disabled = page === 0;
    next.disabled = page + 1 >= pages;
  }

  prev.addEventListener("click", () => { if (page > 0) { page--; render(); } });
  next.addEventListener("click", () => { page++; render(); });
  runButton.addEventListener("click", run);
  const dryRunButton = $("dry-run");
  if (dryRunButton) dryRunButton.addEventListener("click", dryRun);
  cancelButton.addEventListener("click", cancel);
  sql.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); run(); }
  });

  // Catalog tree: catalogs › schemas › tables › columns, fetched as they are opened.
  const quote = (name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : "`" + name.replaceAll("`", "``") + "`";
  function insert(text) {
    const start = sql.selectionStart, end = sql.selectionEnd;
    sql.setRangeText(text, start, end, "end");
    sql.focus();
  }
  function node(label, inserted, opener, extra) {
    const li = document.createElement("li");
    if (opener) {
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "toggle";
      toggle.textContent = "▸";
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-label", `Open ${label}`);
      let children = null;
      toggle.addEventListener("click", async () => {
        if (children) {
          children.hidden = !children.hidden;
        } else {
          children = document.createElement("ul");
          children.append(loading());
          li.append(children);
          children.replaceChildren(...await opener());
        }
        toggle.textContent = children.hidden ? "▸" : "▾";
        toggle.setAttribute("aria-expanded", String(!children.hidden));
      });
      li.append(toggle);
    }
    const name = document.createElement("button");
    name.type = "button";
    name.className = "name";
    name.textContent = label;
    name.title = `Insert ${inserted}`;
    name.addEventListener("click", () => insert(inserted));
    li.append(name);
    if (extra) {
      const t = document.createElement("span");
      t.className = "type";
      t.textContent = " " + extra;
      li.append(t);
    }
    return li;
  }
  function loading() {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = "Loading…";
    return li;
  }
  function problem(answer) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = (answer.data && answer.data.error && answer.data.error.message) || `error ${answer.status}`;
    return li;
  }
  const enc = encodeURIComponent;
  async function catalogs() {
    const a = await api("GET", `/api/v1/connections/${conn}/catalogs`);
    if (a.status !== 200) return [problem(a)];
    return a.data.names.map((c) => node(c, quote(c), () => schemas(c)));
  }
  async function schemas(c) {
    const a = await api("GET", `/api/v1/connections/${conn}/catalogs/${enc(c)}/schemas`);
    if (a.status !== 200) return [problem(a)];
    return a.data.names.map((s) => node(s, `${quote(c)}.${quote(s)}`, () => tables(c, s)));
  }
  async function tables(c, s) {
    const a = await api("GET", `/api/v1/connections/${conn}/catalogs/${enc(c)}/schemas/${enc(s)}/tables`);
    if (a.status !== 200) return [problem(a)];
    return a.data.tables.map((t) => node(t.name, `${quote(c)}.${quote(s)}.${quote(t.name)}`,
      async () => (t.columns || []).map((col) => node(col.name, quote(col.name), null, col.type_text || col.type_name))));
  }
  catalogs().then((items) => $("catalog-tree").replaceChildren(...items));

  // History: my recent queries on this connection.
  async function loadHistory() {
    const a = await api("GET", `/api/v1/queries?connection=${encodeURIComponent(conn)}&limit=20`);
    if (a.status !== 200) return;
    const rows = a.data.queries.map((q) => {
      const tr = document.createElement("tr");
      const cells = [q.submitted_at.replace("T", " ").replace("Z", ""), q.statement.length > 80 ? q.statement.slice(0, 77) + "…" : q.statement,
        q.state, q.row_count === null ? "" : String(q.row_count), q.duration_seconds === null ? "" : String(q.duration_seconds)];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      tr.title = q.statement;
      return tr;
    });
    document.querySelector("#query-history tbody").replaceChildren(...rows);
  }
  loadHistory();
}
