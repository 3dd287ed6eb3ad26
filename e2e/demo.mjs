// Starts `lakegate demo` on free ports, reads what it prints, and drives Debian's Chromium.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const outputDir = join(here, "output");
const binary = process.env.LAKEGATE_BIN || join(here, "..", "target", "debug", "lakegate");

/** A port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs `lakegate demo` with `args`; resolves once its banner is out and it answers. */
export async function startDemo(extra = [], { dataDir = mkdtempSync(join(tmpdir(), "lakegate-e2e-")), fresh = true } = {}) {
  const port = await freePort();
  const emulatorPort = await freePort();
  const args = ["demo", ...(fresh ? ["--fresh"] : []), "--data-dir", dataDir, "--port", String(port),
    "--emulator-port", String(emulatorPort), "--emulator-tls", ...extra];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  const emulator = `https://localhost:${emulatorPort}`;
  // Up to two minutes: the emulator generates its sample tables at start.
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`lakegate demo exited early:\n${out}`);
    if (/Ctrl\+C stops/.test(out)) {
      const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const field = (re) => {
    const m = out.match(re);
    if (!m) throw new Error(`the demo did not print ${re}:\n${out}`);
    return m[1];
  };
  return {
    base,
    emulator,
    dataDir,
    port,
    emulatorPort,
    output: () => out,
    admin: field(/admin@example\.com\s+(\S+)\s+\(admin\)/),
    analyst: field(/analyst@example\.com\s+(\S+)\s+\(analyst\)/),
    viewer: field(/viewer@example\.com\s+(\S+)\s+\(viewer\)/),
    clientId: extra.includes("--preconfigured") ? null : field(/Client ID\s+(\S+)/),
    clientSecret: extra.includes("--preconfigured") ? null : field(/Client Secret\s+(\S+)/),
    host: extra.includes("--preconfigured") ? null : field(/Host\s+(\S+)/),
    snowflakeClientId: extra.includes("--preconfigured") ? null : field(/Snowflake Client ID\s+(\S+)/),
    snowflakeSecret: extra.includes("--preconfigured") ? null : field(/Snowflake Secret\s+(\S+)/),
    googleClientId: extra.includes("--preconfigured") ? null : field(/Google Client ID\s+(\S+)/),
    googleSecret: extra.includes("--preconfigured") ? null : field(/Google Client Secret\s+(\S+)/),
    principalId: field(/Service principal ID\s+(\S+)/),
    principalSecret: field(/Service principal secret\s+(\S+)/),
    pat: field(/Personal access token\s+(\S+)/),
    secondHost: field(/Second workspace\s+(\S+)/),
    /** Ctrl+C, as a person would; resolves with how the process ended. */
    async stop() {
      child.kill("SIGINT");
      return exited;
    },
    exited,
  };
}

/** Headless Chromium with the flags this machine needs (no background networking). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A fresh browser profile. The emulator's certificate comes from the demo's own CA, which
 * Lakegate verifies; the browser is told to accept it, as a person clicking through would. */
export async function newContext(browser) {
  return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 760 }, acceptDownloads: true });
}

let shot = 0;
/** Saves a numbered screenshot of the page under e2e/output/. */
export async function screenshot(page, name) {
  mkdirSync(outputDir, { recursive: true });
  shot += 1;
  const path = join(outputDir, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** Signs in to Lakegate in a new page. */
export async function signIn(context, base, email, password) {
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill("#org", "demo");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  return page;
}

/** The emulator's sign-in and consent pages, as a Databricks user. */
export async function databricksConsent(page, email, password, decision) {
  await page.waitForSelector("#email");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.waitForSelector(`button[value=${decision}]`);
  return page;
}
