// Lakegate embedded in a platform (docs/EMBEDDING.md), in headless Chromium against
// `lakegate demo`: an admin creates a service key and allows the platform's origin; the
// example platform (examples/platform/server.mjs) opens a connect session for its signed-in
// user, who signs in to Databricks in their own browser and lands back on the platform,
// which then runs SQL as them and shows the rows on its own page.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { databricksConsent, freePort, launchBrowser, newContext, screenshot, signIn, startDemo } from "./demo.mjs";

let demo;
let browser;
let platform;

before(async () => {
  demo = await startDemo(["--preconfigured"]);
  browser = await launchBrowser();
});

after(async () => {
  platform?.kill("SIGTERM");
  await browser?.close();
  await demo?.stop();
});

/** Starts the example platform with the key in its environment; resolves with its URL. */
async function startPlatform(key) {
  const port = await freePort();
  const server = fileURLToPath(new URL("../examples/platform/server.mjs", import.meta.url));
  platform = spawn(process.execPath, [server], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LAKEGATE_URL: demo.base, LAKEGATE_SERVICE_KEY: key, PORT: String(port) },
  });
  let out = "";
  platform.stdout.on("data", (d) => { out += d; });
  platform.stderr.on("data", (d) => { out += d; });
  for (let i = 0; i < 100 && !/example platform on/.test(out); i++) {
    if (platform.exitCode !== null) throw new Error(`the example platform exited:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return `http://127.0.0.1:${port}`;
}

test("a platform connects its user's Databricks account and queries as them", async () => {
  // The admin's part: a service key for the platform's backend, and its return origin.
  const admin = await newContext(browser);
  const page = await signIn(admin, demo.base, "admin@example.com", demo.admin);
  await page.click("aside >> text=Service keys");
  await page.fill("#token-name", "Example platform");
  for (const scope of ["users:write", "connect:write", "connections:read", "queries:run"]) {
    await page.check(`input[name=scope][value="${scope}"]`);
  }
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text(\"Create key\")")]);
  const key = (await page.locator("#new-token").innerText()).trim();
  assert.match(key, /^lgk_/);
  const platformUrl = await startPlatform(key);
  await page.click("aside >> text=Sign-in and embedding");
  await page.fill("#origins", platformUrl);
  await Promise.all([page.waitForURL(/ok=origins/), page.click("text=Save origins")]);
  await admin.close();

  // The end user's part, in a browser that has never seen Lakegate.
  const user = await newContext(browser);
  const app = await user.newPage();
  await app.goto(platformUrl);
  assert.match(await app.locator("#who").innerText(), /Ana \(cust-ana\)/);
  await app.click("#connect");
  await databricksConsent(app, "alice@example.com", "alice", "allow");
  await Promise.all([app.waitForURL(`${platformUrl}/connected?*`), app.click("button[value=allow]")]);
  const landed = new URL(app.url());
  assert.equal(landed.searchParams.get("status"), "connected");
  assert.match(await app.locator("#notice").innerText(), /Databricks is connected/);

  await app.fill("#sql", "SELECT tpep_pickup_datetime, fare_amount FROM samples.nyctaxi.trips ORDER BY tpep_pickup_datetime LIMIT 5");
  await Promise.all([app.waitForLoadState("load"), app.click("#run")]);
  assert.deepEqual(await app.locator("#result thead th").allInnerTexts(), ["tpep_pickup_datetime", "fare_amount"]);
  assert.equal(await app.locator("#result tbody tr").count(), 5);
  assert.match(await app.locator("#row-count").innerText(), /^5 rows from /);
  await screenshot(app, "embedded-platform-query");
  await user.close();

  // Lakegate's audit log names the platform's key as the one that opened the session.
  const check = await newContext(browser);
  const audit = await signIn(check, demo.base, "admin@example.com", demo.admin);
  const log = await (await audit.request.get(`${demo.base}/api/v1/audit?action=connect_session.create`)).json();
  assert.equal(log.events[0]?.actor, "service:Example platform", JSON.stringify(log));
  await check.close();
});
