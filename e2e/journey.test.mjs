// The seed's journey as a person meets it, in headless Chromium against `lakegate demo`:
// an admin configures the integration, an analyst connects as themselves, tests, queries
// and downloads CSV; a viewer is kept out of admin settings; cancelled consent and a dead
// refresh token say what happened and how to recover. Screenshots land in e2e/output/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { databricksConsent, launchBrowser, newContext, screenshot, signIn, startDemo } from "./demo.mjs";

let demo;
let browser;

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (demo) {
    const { code, signal } = await demo.stop();
    // Ctrl+C stops Lakegate and the emulator cleanly.
    assert.equal(signal, null, demo.output());
    assert.equal(code, 0, demo.output());
  }
});

test("the admin registers the Databricks OAuth app on Settings › Advanced › Integrations", async () => {
  const context = await newContext(browser);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: demo.base });
  const page = await signIn(context, demo.base, "admin@example.com", demo.admin);
  await page.click("aside >> text=Integrations");
  await page.waitForURL(`${demo.base}/settings/advanced/integrations`);
  const row = page.locator("tr", { hasText: "OAuth U2M connections to Databricks" });
  assert.match(await row.innerText(), /Not configured/);
  await row.locator("text=Add").click();

  // The exact redirect URL to register in Databricks, with a working Copy button.
  const redirect = `${demo.base}/connections/oauth/databricks/callback`;
  assert.equal((await page.locator("#redirect-url").innerText()).trim(), redirect);
  await page.click("button[data-copy=redirect-url]");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), redirect);
  await screenshot(page, "admin-integration-form");

  await page.fill("#client_id", demo.clientId);
  await page.fill("#client_secret", demo.clientSecret);
  await page.fill("#host", demo.host);
  await Promise.all([page.waitForURL(/\/settings\/advanced\/integrations(\?|$)/), page.click("form >> text=Save")]);
  const saved = page.locator("tr", { hasText: "OAuth U2M connections to Databricks" });
  assert.match(await saved.innerText(), /Configured/);
  assert.match(await saved.innerText(), new RegExp(demo.host.replace(/^https?:\/\//, "")));
  // The secret is write-only: it is never shown again.
  assert.ok(!(await page.content()).includes(demo.clientSecret));
  await screenshot(page, "admin-integration-configured");
  await context.close();
});

test("a viewer cannot reach admin settings", async () => {
  const context = await newContext(browser);
  const page = await signIn(context, demo.base, "viewer@example.com", demo.viewer);
  assert.equal(await page.locator("aside >> text=Integrations").count(), 0);
  const resp = await page.goto(`${demo.base}/settings/advanced/integrations`);
  assert.equal(resp.status(), 403);
  await screenshot(page, "viewer-forbidden");
  await context.close();
});

/** New connection › Sign in with Databricks; returns the page on the emulator's consent. */
async function newConnection(page, name, email, password, decision) {
  await page.click("nav >> text=Connections");
  await page.click("text=New connection");
  assert.match(await page.locator(".crumbs").last().innerText(), /Databricks › OAuth U2M/);
  await page.fill("#name", name);
  await page.click("text=Sign in with Databricks");
  await databricksConsent(page, email, password, decision);
  return page;
}

test("the analyst connects as themselves, tests, runs a query and downloads CSV", async () => {
  const context = await newContext(browser);
  const page = await signIn(context, demo.base, "analyst@example.com", demo.analyst);
  await newConnection(page, "Taxi analysis", "alice@example.com", "alice", "allow");
  await screenshot(page, "databricks-consent");
  await Promise.all([page.waitForURL(/\/connections\/[^/]+\?signin=ok/), page.click("button[value=allow]")]);
  assert.match(await page.locator("#databricks-identity").innerText(), /alice@example\.com/);

  // Pick a warehouse and a catalog, then test.
  await page.selectOption("#warehouse_id", { label: "Starter Warehouse (RUNNING)" });
  await page.selectOption("#catalog", "samples");
  await Promise.all([page.waitForURL(/saved=/), page.click("#settings-h ~ form >> text=Save")]);
  await Promise.all([page.waitForLoadState("load"), page.click("text=Test connection")]);
  const test = page.locator("#test-result");
  assert.match(await test.getAttribute("class"), /notice/);
  assert.match(await test.innerText(), /Connection works: signed in as alice@example\.com/);
  // Tall enough to show identity, pickers and the test result together.
  await page.setViewportSize({ width: 1200, height: 1240 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, "connection-tested");
  await page.setViewportSize({ width: 1200, height: 760 });

  // The console: Ctrl+Enter runs it; rows arrive; CSV downloads.
  await page.fill("#sql", "SELECT tpep_pickup_datetime, trip_distance, fare_amount, pickup_zip\nFROM samples.nyctaxi.trips\nORDER BY tpep_pickup_datetime\nLIMIT 250");
  await page.press("#sql", "Control+Enter");
  await page.waitForSelector("#query-results:not([hidden])");
  assert.match(await page.locator("#query-row-count").innerText(), /^250 rows/);
  assert.equal(await page.locator("#result-table tbody tr").count(), 100);
  assert.deepEqual(await page.locator("#result-table thead th").allInnerTexts(),
    ["tpep_pickup_datetime", "trip_distance", "fare_amount", "pickup_zip"]);
  assert.match(await page.locator("#page-info").innerText(), /Page 1 of 3/);
  await page.click("#page-next");
  assert.match(await page.locator("#page-info").innerText(), /Page 2 of 3/);
  await page.click("#catalog-tree >> [aria-label='Open samples']");
  await page.locator("#catalog-tree >> text=nyctaxi").waitFor();
  assert.match(await page.locator("#query-progress").innerText(), /^Finished · \d+\.\d s$/);
  await page.locator("#console").scrollIntoViewIfNeeded();
  await screenshot(page, "sql-console");
  // The console's download is neutralised for spreadsheets (CSV injection).
  assert.match(await page.getAttribute("#download-csv", "href"), /[?&]spreadsheet_safe=true(&|$)/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
  const csv = readFileSync(await download.path(), "utf8").split("\r\n").filter(Boolean);
  assert.equal(csv[0], "tpep_pickup_datetime,trip_distance,fare_amount,pickup_zip");
  assert.equal(csv.length, 251);

  // The catalog tree opens down to columns and inserts names.
  await page.fill("#sql", "");
  await page.click("#catalog-tree >> [aria-label='Open nyctaxi']");
  await page.click("#catalog-tree >> text=trips");
  assert.equal(await page.inputValue("#sql"), "samples.nyctaxi.trips");

  // A long one (the warehouse was stopped and takes a while to start) can be cancelled.
  const stopped = await context.request.post(`${demo.emulator}/emulator/control/warehouses/abcdef1234567890/stop`);
  assert.ok(stopped.ok());
  await page.fill("#sql", "SELECT count(*) AS trips FROM samples.nyctaxi.trips");
  await page.click("#run-query");
  await page.locator("#query-progress", { hasText: "PENDING" }).waitFor();
  assert.ok(await page.locator("#cancel-query").isVisible());
  await page.click("#cancel-query");
  await page.locator("#query-progress", { hasText: "Cancelled" }).waitFor();
  assert.ok(await page.locator("#run-query").isEnabled());
  await page.click("#query-history summary");
  await page.locator("#query-history tbody tr", { hasText: "CANCELED" }).first().waitFor();

  // A statement Databricks rejects shows its message.
  await page.fill("#sql", "SELECT * FROM samples.nyctaxi.nope");
  await page.click("#run-query");
  await page.waitForSelector("#query-error:not([hidden])");
  assert.match(await page.locator("#query-error").innerText(), /TABLE_OR_VIEW_NOT_FOUND/);
  await context.close();
});

test("Snowflake: the admin runs the SQL shown and saves the integration; the analyst connects with a role and queries", async () => {
  const admin = await newContext(browser);
  await admin.grantPermissions(["clipboard-read", "clipboard-write"], { origin: demo.base });
  const page = await signIn(admin, demo.base, "admin@example.com", demo.admin);
  await page.goto(`${demo.base}/settings/advanced/integrations`);
  await page.locator("tr", { hasText: "OAuth connections to Snowflake" }).locator("text=Add").click();
  const redirect = `${demo.base}/connections/oauth/snowflake/callback`;
  const sql = await page.locator("#create-sql").innerText();
  assert.match(sql, new RegExp(`OAUTH_REDIRECT_URI = '${redirect.replace(/[.]/g, "\\.")}'`));
  await page.click("button[data-copy=create-sql]");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), sql);
  await screenshot(page, "snowflake-integration-form");
  await page.fill("#host", demo.host);
  await page.fill("#client_id", demo.snowflakeClientId);
  await page.fill("#client_secret", demo.snowflakeSecret);
  await page.fill("#default_role", "ANALYST");
  await Promise.all([page.waitForURL(/\/settings\/advanced\/integrations(\?|$)/), page.click("form >> text=Save")]);
  assert.match(await page.locator("tr", { hasText: "OAuth connections to Snowflake" }).innerText(), /Configured/);
  await admin.close();

  const context = await newContext(browser);
  const analyst = await signIn(context, demo.base, "analyst@example.com", demo.analyst);
  await analyst.goto(`${demo.base}/connections/new?kind=snowflake-oauth`);
  assert.match(await analyst.locator(".crumbs").last().innerText(), /Snowflake › OAuth/);
  await analyst.fill("#name", "Snowflake analysis");
  await analyst.fill("#role", "PUBLIC");
  await analyst.click("text=Sign in with Snowflake");
  await databricksConsent(analyst, "alice@example.com", "alice", "allow");
  assert.equal((await analyst.locator("#role").innerText()).trim(), "PUBLIC", "the consent page names the role");
  await Promise.all([analyst.waitForURL(/\/connections\/[^/]+\?signin=ok/), analyst.click("button[value=allow]")]);
  assert.match(await analyst.locator("#databricks-identity").innerText(), /ALICE/);
  // The pickers speak Snowflake and list what the role can see.
  assert.equal(await analyst.locator("label[for=catalog]").innerText(), "Default database");
  await analyst.selectOption("#warehouse_id", { label: "STARTER_WAREHOUSE (STARTED)" });
  await analyst.selectOption("#catalog", "SAMPLES");
  await Promise.all([analyst.waitForURL(/saved=/), analyst.click("#settings-h ~ form >> text=Save")]);
  assert.ok(await analyst.locator("#schema option", { hasText: "NYCTAXI" }).count() > 0, "schemas of the chosen database");
  await Promise.all([analyst.waitForLoadState("load"), analyst.click("text=Test connection")]);
  assert.match(await analyst.locator("#test-result").innerText(), /Connection works: signed in as ALICE/);
  await analyst.fill("#sql", "SELECT CURRENT_ROLE() AS role, COUNT(*) AS trips FROM samples.nyctaxi.trips");
  await analyst.press("#sql", "Control+Enter");
  await analyst.waitForSelector("#query-results:not([hidden])");
  assert.deepEqual(await analyst.locator("#result-table thead th").allInnerTexts(), ["ROLE", "TRIPS"]);
  assert.equal(await analyst.locator("#result-table tbody tr td").first().innerText(), "PUBLIC");
  await screenshot(analyst, "snowflake-query");
  const [download] = await Promise.all([analyst.waitForEvent("download"), analyst.click("#download-csv")]);
  const csv = readFileSync(await download.path(), "utf8").split("\r\n").filter(Boolean);
  assert.equal(csv.length, 2);
  assert.equal(csv[0], "ROLE,TRIPS");
  assert.match(csv[1], /^PUBLIC,[1-9]\d*$/, "the role and a count, as the table showed");
  await context.close();
});

test("BigQuery: the admin pastes the Google client; an analyst who unticks BigQuery is told, then connects and queries", async () => {
  const admin = await newContext(browser);
  await admin.grantPermissions(["clipboard-read", "clipboard-write"], { origin: demo.base });
  const page = await signIn(admin, demo.base, "admin@example.com", demo.admin);
  await page.goto(`${demo.base}/settings/advanced/integrations`);
  await page.locator("tr", { hasText: "OAuth connections to BigQuery" }).locator("text=Add").click();
  const redirect = `${demo.base}/connections/oauth/bigquery/callback`;
  assert.equal(await page.locator("#redirect-url").innerText(), redirect);
  await page.click("button[data-copy=redirect-url]");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), redirect);
  assert.match(await page.locator("main").innerText(), /Testing.*7 days/s);
  await screenshot(page, "bigquery-integration-form");
  await page.fill("#client_id", demo.googleClientId);
  await page.fill("#client_secret", demo.googleSecret);
  await Promise.all([page.waitForURL(/\/settings\/advanced\/integrations(\?|$)/), page.click("form >> text=Save")]);
  assert.match(await page.locator("tr", { hasText: "OAuth connections to BigQuery" }).innerText(), /Configured/);
  await admin.close();

  const context = await newContext(browser);
  const analyst = await signIn(context, demo.base, "analyst@example.com", demo.analyst);
  await analyst.goto(`${demo.base}/connections/new?kind=bigquery-oauth`);
  assert.match(await analyst.locator(".crumbs").last().innerText(), /BigQuery › OAuth/);
  await analyst.fill("#name", "BigQuery analysis");
  await analyst.click("text=Sign in with Google");
  // Granular consent: leaving BigQuery unticked gives a sign-in Lakegate cannot use.
  await databricksConsent(analyst, "alice@example.com", "alice", "allow");
  const bigquery = analyst.locator("input[name=scope][value='https://www.googleapis.com/auth/bigquery']");
  assert.equal(await bigquery.isChecked(), false, "Google shows the box unticked");
  await Promise.all([analyst.waitForURL(/signin=scope_not_granted/), analyst.click("button[value=allow]")]);
  assert.match(await analyst.locator("p.error").innerText(), /left unticked on the Google consent page/);
  await screenshot(analyst, "bigquery-scope-not-granted");
  await analyst.click("button:has-text(\"Sign in with Google\")");
  await databricksConsent(analyst, "alice@example.com", "alice", "allow");
  await bigquery.check();
  await Promise.all([analyst.waitForURL(/signin=ok/), analyst.click("button[value=allow]")]);
  assert.match(await analyst.locator("#databricks-identity").innerText(), /alice@example\.com/);
  // The pickers speak BigQuery: billing projects the user has a role on.
  assert.equal(await analyst.locator("label[for=warehouse_id]").innerText(), "Billing project");
  await analyst.selectOption("#warehouse_id", "lakegate-samples");
  await Promise.all([analyst.waitForURL(/saved=/), analyst.click("#settings-h ~ form >> text=Save")]);
  await Promise.all([analyst.waitForLoadState("load"), analyst.click("text=Test connection")]);
  assert.match(await analyst.locator("#test-result").innerText(), /Connection works: signed in as alice@example\.com, billing project AVAILABLE/);
  await analyst.fill("#sql", "SELECT SESSION_USER() AS who, COUNT(*) AS trips FROM `lakegate-samples.nyctaxi.trips`");
  // A dry run first, as BigQuery users expect: what the query would read.
  await analyst.click("#dry-run");
  await analyst.locator("#query-progress", { hasText: "Dry run: this query will process" }).waitFor();
  await analyst.press("#sql", "Control+Enter");
  await analyst.waitForSelector("#query-results:not([hidden])");
  assert.deepEqual(await analyst.locator("#result-table thead th").allInnerTexts(), ["who", "trips"]);
  assert.equal(await analyst.locator("#result-table tbody tr td").first().innerText(), "alice@example.com");
  await screenshot(analyst, "bigquery-query");
  const [download] = await Promise.all([analyst.waitForEvent("download"), analyst.click("#download-csv")]);
  const csv = readFileSync(await download.path(), "utf8").split("\r\n").filter(Boolean);
  assert.equal(csv[0], "who,trips");
  assert.match(csv[1], /^alice@example\.com,[1-9]\d*$/);
  await context.close();
});

test("shared identities and a second workspace: a service principal, a personal access token, and a connection on another workspace of the account", async () => {
  const context = await newContext(browser);
  const page = await signIn(context, demo.base, "analyst@example.com", demo.analyst);
  const host = demo.host.replace(/^https?:\/\//, "");

  // OAuth M2M: checked with Databricks, then "runs as" the principal, for everyone.
  await page.goto(`${demo.base}/connections/new?kind=databricks-oauth-m2m`);
  assert.match(await page.locator(".crumbs").last().innerText(), /Databricks › OAuth M2M/);
  await page.fill("#name", "Nightly reports");
  await page.fill("#host", host);
  await page.fill("#client_id", demo.principalId);
  await page.fill("#client_secret", "not-the-secret");
  await page.click("text=Create connection");
  assert.match(await page.locator("[role=alert]").innerText(), /refused the service principal's credentials/);
  await page.fill("#name", "Nightly reports");
  await page.fill("#host", host);
  await page.fill("#client_id", demo.principalId);
  await page.fill("#client_secret", demo.principalSecret);
  await Promise.all([page.waitForURL(/\/connections\/[0-9a-f-]+$/), page.click("text=Create connection")]);
  assert.match(await page.locator("#runs-as").innerText(), new RegExp(`Queries run as ${demo.principalId}, not as you`));
  assert.ok(!(await page.content()).includes(demo.principalSecret), "write-only");
  await page.selectOption("#warehouse_id", "abcdef1234567890");
  await Promise.all([page.waitForURL(/saved=/), page.click("#settings-h ~ form >> text=Save")]);
  await page.fill("#sql", "SELECT current_user() AS who");
  await page.click("#run-query");
  await page.waitForSelector("#query-results:not([hidden])", { timeout: 60_000 });
  assert.equal(await page.locator("#result-table tbody tr td").first().innerText(), demo.principalId);
  await screenshot(page, "m2m-connection");

  // A personal access token: the connection runs as its owner.
  await page.goto(`${demo.base}/connections/new?kind=databricks-pat`);
  await page.fill("#name", "Alice's token");
  await page.fill("#host", host);
  await page.fill("#token", demo.pat);
  await Promise.all([page.waitForURL(/\/connections\/[0-9a-f-]+$/), page.click("text=Create connection")]);
  assert.match(await page.locator("#runs-as").innerText(), /Queries run as alice@example\.com, not as you/);
  await context.close();

  // The admin adds the account's second workspace; the analyst connects there.
  const adminContext = await newContext(browser);
  const admin = await signIn(adminContext, demo.base, "admin@example.com", demo.admin);
  await admin.goto(`${demo.base}/settings/advanced/integrations/databricks-oauth-u2m`);
  await admin.fill("#new-host", demo.secondHost);
  await Promise.all([admin.waitForURL(/databricks-oauth-u2m$/), admin.click("text=Add workspace")]);
  assert.match(await admin.locator("#workspaces-h ~ ul").innerText(), new RegExp(demo.secondHost));
  await screenshot(admin, "second-workspace");
  await adminContext.close();
  const again = await newContext(browser);
  const analyst = await signIn(again, demo.base, "analyst@example.com", demo.analyst);
  await analyst.goto(`${demo.base}/connections/new?kind=databricks-oauth-u2m`);
  await analyst.fill("#name", "Second workspace");
  await analyst.selectOption("#host", demo.secondHost);
  await analyst.click("text=Sign in with Databricks");
  await databricksConsent(analyst, "bob@example.com", "bob", "allow");
  assert.ok(analyst.url().includes(demo.secondHost.split(":").pop()), `signed in at the second workspace: ${analyst.url()}`);
  await Promise.all([analyst.waitForURL(/\/connections\/[^/]+\?signin=ok/), analyst.click("button[value=allow]")]);
  assert.match(await analyst.locator("#databricks-identity").innerText(), /bob@example\.com/);
  assert.ok((await analyst.content()).includes(demo.secondHost), "the connection names its workspace");
  await again.close();
});

test("the admin's pages: a home page that leads somewhere, readable activity, connection health, query history", async () => {
  const context = await newContext(browser);
  await context.setDefaultTimeout(30_000);
  const page = await signIn(context, demo.base, "admin@example.com", demo.admin);
  // Home: the setup checklist, with the Databricks integration configured and verified.
  const checklist = page.locator("#setup-checklist");
  assert.match(await checklist.innerText(), /OAuth U2M connections to Databricks: configured and verified/);
  await page.setViewportSize({ width: 1280, height: 900 });
  await screenshot(page, "home-admin");
  // Activity: names, not ids; a filter by user; no horizontal overflow at 1280 px.
  await page.goto(`${demo.base}/settings/activity`);
  assert.ok(!(await page.locator("table.activity tbody").innerText()).match(/user:[0-9a-f]{8}-/), "actors by name");
  await page.selectOption("#f-user", { label: "analyst@example.com" });
  await Promise.all([page.waitForURL(/user=/), page.click("form.filters >> text=Filter")]);
  const actors = await page.locator("table.activity tbody tr td:nth-child(2)").allInnerTexts();
  assert.ok(actors.length > 0 && actors.some((a) => a.includes("analyst@example.com")), actors.join(" | "));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no horizontal overflow at 1280 px (${overflow} px)`);
  assert.match(await page.getAttribute("#activity-export", "href"), /^\/settings\/activity\.csv\?user=/);
  await screenshot(page, "activity");
  // Connection health: sign-ins by status and the refresh charts.
  await page.click("aside >> text=Connection health");
  await page.waitForURL(`${demo.base}/settings/health`);
  assert.match(await page.locator("#health-statuses").innerText(), /active/);
  assert.equal(await page.locator("#health-refreshes svg").count(), 10, "five outcomes, a day and a week each");
  await screenshot(page, "connection-health");
  await context.close();
  // The analyst's home: their connections with status and next step; their history by outcome.
  const analystContext = await newContext(browser);
  const analyst = await signIn(analystContext, demo.base, "analyst@example.com", demo.analyst);
  assert.ok(await analyst.locator("#home-connections tbody tr").count() > 0);
  await analyst.goto(`${demo.base}/queries`);
  await analyst.selectOption("#q-outcome", "FAILED");
  await Promise.all([analyst.waitForURL(/outcome=FAILED/), analyst.click("form.filters >> text=Filter")]);
  const outcomes = await analyst.locator("table tbody tr td:nth-child(4)").allInnerTexts();
  assert.ok(outcomes.length > 0 && outcomes.every((o) => o.startsWith("FAILED")), outcomes.join(" | "));
  await analystContext.close();
});

test("the admin adds a webhook endpoint: the signing secret is shown once, then only the endpoint", async () => {
  const context = await newContext(browser);
  const page = await signIn(context, demo.base, "admin@example.com", demo.admin);
  await page.click("aside >> text=Webhooks");
  await page.waitForURL(`${demo.base}/settings/advanced/webhooks`);
  assert.match(await page.innerText("main"), /No endpoints yet/);
  await page.fill("#webhook-url", "https://hooks.example.com/lakegate");
  await page.uncheck("input[value='connection.created']");
  await page.click("text=Add endpoint");
  const secret = (await page.innerText("#new-secret")).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
  const row = page.locator("tr", { hasText: "https://hooks.example.com/lakegate" });
  assert.match(await row.innerText(), /credential\.reauth_required/);
  assert.doesNotMatch(await row.innerText(), /connection\.created/);
  await screenshot(page, "webhooks");
  // Shown once: the page again holds the endpoint, not the secret.
  await page.goto(`${demo.base}/settings/advanced/webhooks`);
  assert.ok(!(await page.content()).includes(secret));
  await row.locator("button", { hasText: "Delete" }).click();
  await page.waitForURL(`${demo.base}/settings/advanced/webhooks`);
  assert.match(await page.innerText("main"), /No endpoints yet/);
  await context.close();
});

test("cancelling consent says the sign-in was cancelled", async () => {
  const context = await newContext(browser);
  const page = await signIn(context, demo.base, "analyst@example.com", demo.analyst);
  await newConnection(page, "Cancelled", "bob@example.com", "bob", "deny");
  await Promise.all([page.waitForURL(/signin=cancelled/), page.click("button[value=deny]")]);
  assert.match(await page.locator("p.error").innerText(), /Sign-in cancelled/);
  await screenshot(page, "sign-in-cancelled");
  await context.close();
});

test("a dead refresh token asks to sign in again, and Reconnect fixes it", async () => {
  const context = await newContext(browser);
  const page = await signIn(context, demo.base, "analyst@example.com", demo.analyst);
  await newConnection(page, "Revoked later", "bob@example.com", "bob", "allow");
  await Promise.all([page.waitForURL(/signin=ok/), page.click("button[value=allow]")]);
  const url = page.url().split("?")[0];

  // Databricks revokes Bob's tokens (an admin action, or an expired session).
  const revoked = await context.request.post(`${demo.emulator}/emulator/control/users/bob@example.com/revoke-tokens`);
  assert.ok(revoked.ok());
  // The first use finds out (this page's own calls, or a request its scripts still had in
  // flight) and the page says so…
  await page.goto(url);
  assert.match(await page.locator("main").innerText(), /sign in again/);
  // …and from then on the credential itself is marked.
  await page.goto(url);
  assert.match(await page.locator("#credential-status").innerText(), /sign in again/);
  // Nothing on the page pretends the credential still works.
  assert.doesNotMatch(await page.locator("main").innerText(), /renews automatically/);
  assert.equal(await page.locator("#console").count(), 0);
  await screenshot(page, "sign-in-again");

  await page.click("text=Reconnect");
  await databricksConsent(page, "bob@example.com", "bob", "allow");
  await Promise.all([page.waitForURL(/signin=ok/), page.click("button[value=allow]")]);
  assert.match(await page.locator("#credential-status").innerText(), /active/i);
  assert.match(await page.locator("#databricks-identity").innerText(), /bob@example\.com/);
  assert.equal(await page.locator("#console").count(), 1);
  await context.close();
});

test("a second demo on a taken port says so", async () => {
  const { spawnSync } = await import("node:child_process");
  const bin = process.env.LAKEGATE_BIN || new URL("../target/debug/lakegate", import.meta.url).pathname;
  const r = spawnSync(bin, ["demo", "--port", String(demo.port), "--data-dir", "/nonexistent/never-created"], { encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`port ${demo.port} is already in use .*--port`));
});

test("with --preconfigured, users go straight to connections", async () => {
  const ready = await startDemo(["--preconfigured"]);
  const context = await newContext(browser);
  try {
    const page = await signIn(context, ready.base, "analyst@example.com", ready.analyst);
    await newConnection(page, "Straight away", "alice@example.com", "alice", "allow");
    await Promise.all([page.waitForURL(/signin=ok/), page.click("button[value=allow]")]);
    assert.match(await page.locator("#databricks-identity").innerText(), /alice@example\.com/);
  } finally {
    await context.close();
    const { code } = await ready.stop();
    assert.equal(code, 0, ready.output());
  }
});

test("a second run reuses the demo folder; --fresh starts over", async () => {
  const first = await startDemo();
  await first.stop();
  const again = await startDemo([], { dataDir: first.dataDir, fresh: false });
  await again.stop();
  assert.equal(again.admin, first.admin);
  assert.equal(again.clientId, first.clientId);
  assert.equal(again.clientSecret, first.clientSecret);
  const fresh = await startDemo([], { dataDir: first.dataDir, fresh: true });
  await fresh.stop();
  assert.notEqual(fresh.admin, first.admin);
  assert.notEqual(fresh.clientId, first.clientId);
});

/** axe-core's violations on the page (its script injected past the page's CSP). */
async function accessibilityViolations(page) {
  const axe = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
  await page.addScriptTag({ path: axe });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

test("the pages of the journey have no accessibility violations (axe-core)", async () => {
  // Only this context bypasses CSP, to inject axe; the app's own pages never need it.
  const context = await browser.newContext({ bypassCSP: true, ignoreHTTPSErrors: true, viewport: { width: 1200, height: 760 } });
  const found = [];
  const page = await context.newPage();
  await page.goto(`${demo.base}/login`);
  found.push(...(await accessibilityViolations(page)).map((v) => `/login ${v}`));
  await page.close();
  const admin = await signIn(context, demo.base, "admin@example.com", demo.admin);
  const pages = ["/", "/settings/advanced/integrations", "/settings/advanced/integrations/databricks-oauth-u2m",
    "/settings/users", "/settings/api-tokens", "/settings/service-keys", "/settings/activity", "/settings/advanced/access", "/settings/advanced/integrations/snowflake-oauth", "/settings/advanced/integrations/bigquery-oauth", "/connections", "/connections/new", "/queries",
    "/connections/new?kind=databricks-oauth-m2m", "/connections/new?kind=databricks-pat", "/settings/health",
    "/settings/activity?limit=5", "/settings/advanced/webhooks"];
  for (const path of pages) {
    await admin.goto(`${demo.base}${path}`);
    found.push(...(await accessibilityViolations(admin)).map((v) => `${path} ${v}`));
  }
  // A connection page with its console showing results.
  await admin.click("nav >> text=Connections");
  await newConnection(admin, "Accessible", "alice@example.com", "alice", "allow");
  await Promise.all([admin.waitForURL(/signin=ok/), admin.click("button[value=allow]")]);
  // (An earlier test stopped the warehouse: it may still be starting.)
  await admin.selectOption("#warehouse_id", "abcdef1234567890");
  await Promise.all([admin.waitForURL(/saved=/), admin.click("#settings-h ~ form >> text=Save")]);
  await admin.fill("#sql", "SELECT trip_distance, fare_amount FROM samples.nyctaxi.trips LIMIT 5");
  await admin.click("#run-query");
  await admin.waitForSelector("#query-results:not([hidden])", { timeout: 60_000 });
  found.push(...(await accessibilityViolations(admin)).map((v) => `connection page ${v}`));
  await context.close();
  assert.deepEqual(found, []);
});
