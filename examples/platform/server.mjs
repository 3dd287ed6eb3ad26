// A tiny "platform" that embeds Lakegate, in one file with Node's standard library only:
// its backend holds a Lakegate service key, knows its signed-in user by its own id, opens
// a connect session so the user signs in to Databricks in their own browser, then runs SQL
// as that user with `Lakegate-User`. docs/EMBEDDING.md walks through it; the browser journey
// (e2e/embedding.test.mjs) drives it in Chromium.
//
//   LAKEGATE_URL=http://127.0.0.1:8080 LAKEGATE_SERVICE_KEY=lgk_… node examples/platform/server.mjs
//
// Environment (secrets never go in argv): LAKEGATE_URL, LAKEGATE_SERVICE_KEY, PORT (3000),
// PLATFORM_URL (http://127.0.0.1:PORT, which Lakegate's admins allow as a return origin).
// A real platform has its own sign-in and CSRF protection; here the signed-in user is fixed.
import http from "node:http";

const lakegateUrl = (process.env.LAKEGATE_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const serviceKey = process.env.LAKEGATE_SERVICE_KEY ?? "";
const port = Number(process.env.PORT ?? 3000);
const platformUrl = (process.env.PLATFORM_URL ?? `http://127.0.0.1:${port}`).replace(/\/$/, "");
if (!serviceKey.startsWith("lgk_")) {
  console.error("set LAKEGATE_SERVICE_KEY to a Lakegate service key (lgk_…)");
  process.exit(2);
}

// The platform's own signed-in user, and what it remembers about their connection.
const me = { externalId: "cust-ana", email: "ana@customer.example", name: "Ana" };
let connectionId = null;

/** A call to Lakegate's API with the service key, acting for `me` unless `asItself`. */
async function lakegate(method, path, body, { asItself = false } = {}) {
  const headers = { authorization: `Bearer ${serviceKey}`, accept: "application/json" };
  if (!asItself) headers["lakegate-user"] = me.externalId;
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(`${lakegateUrl}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = resp.status === 204 ? null : await resp.json();
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${data?.error?.message ?? ""}`);
  return data;
}

const escape = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, body) {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'",
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Example platform</title></head>
<body><main><h1>Example platform</h1><p id="who">Signed in as ${escape(me.name)} (${escape(me.externalId)})</p>${body}</main></body></html>`);
}

function home(res, notice = "", result = "", sql = "SELECT 1 AS one") {
  const connect = `<form method="post" action="/connect"><button id="connect">Connect Databricks</button></form>`;
  const query = `<p id="connection">Connected: <code>${escape(connectionId)}</code></p>
<form method="post" action="/query"><label for="sql">SQL</label>
<textarea id="sql" name="sql" rows="3" cols="60">${escape(sql)}</textarea>
<button id="run">Run as ${escape(me.name)}</button></form>`;
  page(res, 200, `${notice ? `<p id="notice" role="status">${escape(notice)}</p>` : ""}${connectionId ? query : connect}${result}`);
}

async function readForm(req) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

/** Creates the end user if needed and opens a connect session: the browser goes there. */
async function connect(res) {
  await lakegate("PUT", `/api/v1/users/by-external-id/${me.externalId}`,
    { email: me.email, display_name: me.name }, { asItself: true });
  const session = await lakegate("POST", "/api/v1/connect-sessions", {
    external_user_id: me.externalId,
    connection: { name: "Databricks (from the platform)", provider: "databricks", auth: "oauth-u2m" },
    return_url: `${platformUrl}/connected`,
  }, { asItself: true });
  res.writeHead(303, { location: session.url });
  res.end();
}

/** Runs `sql` as the user on their first running warehouse; renders the rows. */
async function query(res, sql) {
  const { warehouses } = await lakegate("GET", `/api/v1/connections/${connectionId}/warehouses`);
  const warehouse = warehouses.find((w) => w.state === "RUNNING") ?? warehouses[0];
  const result = await lakegate("POST", `/api/v1/connections/${connectionId}/queries`,
    { statement: sql, warehouse_id: warehouse.id, row_limit: 100 });
  const head = result.columns.map((c) => `<th>${escape(c.name)}</th>`).join("");
  const rows = result.rows.map((r) => `<tr>${r.map((v) => `<td>${escape(v)}</td>`).join("")}</tr>`).join("");
  home(res, "", `<table id="result"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>
<p id="row-count">${result.row_count} rows from ${escape(warehouse.name)}</p>`, sql);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, platformUrl);
  try {
    if (req.method === "GET" && url.pathname === "/") return home(res);
    if (req.method === "POST" && url.pathname === "/connect") return await connect(res);
    if (req.method === "GET" && url.pathname === "/connected") {
      // Lakegate sends the browser back with the outcome of the sign-in.
      const status = url.searchParams.get("status");
      if (status === "connected") connectionId = url.searchParams.get("connection_id");
      const reason = url.searchParams.get("reason");
      return home(res, status === "connected" ? "Databricks is connected." : `Not connected: ${status} (${reason})`);
    }
    if (req.method === "POST" && url.pathname === "/query" && connectionId) {
      return await query(res, (await readForm(req)).get("sql") ?? "");
    }
    page(res, 404, "<p>Not found.</p>");
  } catch (e) {
    page(res, 502, `<p id="error" role="alert">${escape(e.message)}</p>`);
  }
});

server.listen(port, "127.0.0.1", () => console.log(`example platform on ${platformUrl}`));
