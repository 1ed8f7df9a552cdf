// Drives corral's web console in Debian's chromium (headless, through puppeteer-core; nothing is
// downloaded) against a running `corral serve`, as a person would: tests/e2e/console_test.cpp
// starts corral and reads this script's output.
//
//   node console_browser.cjs full URL OUT_DIR PULL_URL PULL_SHA256 SLOW_URL
//     tiny-a, tiny-b (real llama-server) and toy (mock, with reasoning) configured, and an empty
//     models_dir. Every model
//     is listed; each is loaded with its button and turns ready on the page (from the event
//     stream); the logs page follows tiny-a's server output and searches it; the playground
//     streams an answer from every model (toy's reasoning apart, and a stopped one); the
//     activity page charts the requests and lists the events; corral restarts (this script prints
//     "RESTART" and waits for OUT_DIR/restarted) and the page reconnects and stays live; every
//     model is unloaded with its button. Last, PULL_URL (a copy of tiny-b) is pulled from the models
//     page's form: the pull shows its progress and ends verified, the model it makes appears in
//     the table (from the watch's event) and loads with its button; a pull of SLOW_URL (served
//     slowly) is stopped with its Cancel button.
//   node console_browser.cjs keys URL OUT_DIR ADMIN_KEY API_KEY
//     admin_api_key and api_keys configured: the console asks for the admin key once, then the
//     playground asks for an API key; both are kept in session storage only.
//
// A console error, an uncaught exception, a failed request or an HTTP error fails the run, except
// where a step expects one (401 before a key is given, connection errors while corral restarts,
// requests the page itself aborts). Screenshots of each page go to OUT_DIR.
const puppeteer = require("puppeteer-core");
const fs = require("fs");
const path = require("path");

const [mode, base, outDir, ...rest] = process.argv.slice(2);
const [adminKey, apiKey] = mode === "keys" ? rest : [];
const [pullUrl, pullSha256, slowUrl] = mode === "full" ? rest : [];
const TIMEOUT = 30000;
const problems = [];
let allow401 = false;
let restarting = false;

function step(text) {
  console.log(`step: ${text}`);
}

function watch(page) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if (allow401 && text.includes("status of 401")) return;
    if (restarting && /ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY_RESPONSE|Failed to fetch/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText || "";
    if (why === "net::ERR_ABORTED") return;  // the page's own AbortController (a view closed, Stop)
    if (restarting) return;
    problems.push(`request failed: ${r.method()} ${r.url()}: ${why}`);
  });
  page.on("response", (r) => {
    if (r.status() < 400) return;
    if (allow401 && r.status() === 401) return;
    problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, `${name}.png`) });
}

const stateOf = (model) => `tr[data-model="${model}"] .state`;

async function waitState(page, model, state) {
  await page.waitForSelector(`${stateOf(model)}[data-state="${state}"]`, { timeout: TIMEOUT });
}

async function click(page, selector) {
  await page.waitForSelector(`${selector}:not([disabled])`, { timeout: TIMEOUT });
  // Found and clicked in one evaluation in the page ($eval takes two round trips, between which a
  // re-rendered row would leave a detached element to click).
  await page.evaluate((s) => document.querySelector(`${s}:not([disabled])`).click(), selector);
}

async function view(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

// Sends `text` in the playground to `model` and waits for the answer to end; returns it.
async function chat(page, model, text, { stop = false } = {}) {
  await view(page, `#/playground/${encodeURIComponent(model)}`);
  await page.waitForFunction((m) => {
    const s = document.querySelector("select[name=model]");
    return s && [...s.options].some((o) => o.value === m);
  }, { timeout: TIMEOUT }, model);
  await page.select("select[name=model]", model);
  // Greedy sampling: the tiny models' random weights then give the same (non-empty) answer every run.
  await page.$eval("input[name=temperature]", (i) => { i.value = "0"; i.dispatchEvent(new Event("change")); });
  await page.$eval("button[name=clear]", (b) => b.click());
  await page.type("textarea[name=prompt]", text);
  await page.$eval("button[name=send]", (b) => b.click());
  if (stop) {
    await page.waitForFunction(() => {
      const a = document.querySelector(".message.assistant");
      return a && a.querySelector(".text").textContent.length > 0;
    }, { timeout: TIMEOUT });
    await page.$eval("button[name=stop]", (b) => b.click());
  }
  await page.waitForSelector(".message.assistant:is([data-state=done],[data-state=stopped],[data-state=error])", { timeout: TIMEOUT });
  return page.$eval(".message.assistant", (a) => ({
    state: a.dataset.state,
    text: a.querySelector(".text").textContent,
    reasoning: a.querySelector("details.reasoning span")?.textContent || "",
    stats: a.querySelector(".stats")?.textContent || "",
  }));
}

async function full(page) {
  step("GET / sends a browser to the console");
  const response = await page.goto(base + "/", { waitUntil: "domcontentloaded" });
  check(new URL(page.url()).pathname === "/ui/", `GET / ended at ${page.url()}`);
  check(response.headers()["content-security-policy"]?.includes("script-src 'self'"), "no Content-Security-Policy");

  step("the models page lists every model");
  await page.waitForSelector("tr[data-model]", { timeout: TIMEOUT });
  await page.waitForSelector("#connection[data-state=connected]", { timeout: TIMEOUT });
  const names = await page.$$eval("tr[data-model]", (rows) => rows.map((r) => r.dataset.model));
  check(JSON.stringify(names) === JSON.stringify(["tiny-a", "tiny-b", "toy"]), `models listed: ${names}`);
  await shot(page, "models-unloaded");

  step("each Load button turns its model ready, as the event stream reports it");
  const statusReads = [];
  page.on("request", (r) => { if (r.url().endsWith("/corral/status")) statusReads.push(Date.now()); });
  for (const model of ["tiny-a", "tiny-b", "toy"]) {
    await click(page, `tr[data-model="${model}"] button[data-action=load]`);
    await waitState(page, model, "ready");
  }
  // No polling: with nothing happening, the page reads the status no more.
  const before = statusReads.length;
  await new Promise((r) => setTimeout(r, 2500));
  check(statusReads.length === before, `the models page read /corral/status ${statusReads.length - before} times while nothing happened`);
  const where = await page.$eval('tr[data-model="tiny-a"]', (r) => r.textContent);
  check(where.includes("local") && where.includes("measured"), `tiny-a's row: ${where}`);
  await shot(page, "models");

  step("the logs page follows tiny-a's server output and searches it");
  await view(page, "#/logs/tiny-a");
  await page.waitForFunction(() => document.querySelector(".log")?.textContent.includes("listening on"), { timeout: TIMEOUT });
  await page.type('input[type=search]', "listening on");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll(".log > div")];
    return rows.length > 0 && rows.every((r) => r.textContent.includes("listening on")) && document.querySelector(".log mark");
  }, { timeout: TIMEOUT });
  await shot(page, "logs");
  await page.$eval('input[type=search]', (i) => { i.value = ""; i.dispatchEvent(new Event("input")); });

  step("the playground streams an answer from every model");
  for (const model of ["tiny-a", "tiny-b"]) {
    const a = await chat(page, model, "Say hello");
    check(a.state === "done" && a.text.length > 0, `${model} answered ${JSON.stringify(a)}`);
    check(/first token \d+ ms/.test(a.stats) && /tokens\/s/.test(a.stats), `${model}'s stats: ${a.stats}`);
  }
  const toy = await chat(page, "toy", "Think first");
  check(toy.state === "done" && toy.text.startsWith("Hello from the corral mock server"), `toy answered ${JSON.stringify(toy)}`);
  check(toy.reasoning.startsWith("Let me think") && !toy.text.includes("Let me think"), `toy's reasoning: ${JSON.stringify(toy)}`);
  await shot(page, "playground");
  step("the stop button ends a streaming answer");
  await page.$eval("input[name=max_tokens]", (i) => { i.value = "2000"; i.dispatchEvent(new Event("change")); });
  const stopped = await chat(page, "toy", "A long one", { stop: true });
  check(stopped.state === "stopped" && stopped.stats.includes("stopped"), `stopped answer: ${JSON.stringify(stopped)}`);
  check(stopped.text.split(" ").length < 1000, "the answer went on after Stop");

  step("the activity page charts the requests and lists the events");
  await view(page, "#/activity");
  await page.waitForSelector('[data-activity="tiny-a"] rect.requests', { timeout: TIMEOUT });
  const feed = await page.$eval(".feed", (f) => f.textContent);
  check(feed.includes("tiny-a: ready") && feed.includes("toy: starting"), `events listed: ${feed}`);
  await shot(page, "activity");

  step("corral restarts: the page reconnects and stays live");
  await view(page, "#/models");
  await waitState(page, "tiny-a", "ready");
  restarting = true;
  const restarted = path.join(outDir, "restarted");
  fs.rmSync(restarted, { force: true });
  console.log("RESTART");
  await page.waitForSelector("#connection:not([data-state=connected])", { timeout: TIMEOUT });
  while (!fs.existsSync(restarted)) await new Promise((r) => setTimeout(r, 50));
  await page.waitForSelector("#connection[data-state=connected]", { timeout: TIMEOUT });
  restarting = false;
  for (const model of ["tiny-a", "tiny-b", "toy"]) await waitState(page, model, "unloaded");
  await click(page, 'tr[data-model="toy"] button[data-action=load]');
  await waitState(page, "toy", "ready");
  await click(page, 'tr[data-model="tiny-a"] button[data-action=load]');
  await waitState(page, "tiny-a", "ready");

  step("each Unload button unloads its model");
  for (const model of ["tiny-a", "toy"]) {
    await click(page, `tr[data-model="${model}"] button[data-action=unload]`);
    await waitState(page, model, "unloaded");
  }
  await shot(page, "models-after");

  step("a model pulled from the models page is verified, listed and loads");
  await page.waitForSelector(".pull-panel:not([hidden])", { timeout: TIMEOUT });
  await page.type("#pull-form input[name=source]", pullUrl);
  await page.type("#pull-form input[name=sha256]", pullSha256);
  await page.$eval("#pull-form button[type=submit]", (b) => b.click());
  await page.waitForSelector('.pull[data-event="done"]', { timeout: TIMEOUT });
  const pulled = await page.$eval('.pull[data-event="done"]', (p) => p.textContent);
  check(pulled.includes("verified") && pulled.includes(pullSha256), `the pull ended as: ${pulled}`);
  await waitState(page, "pulled-b", "unloaded");
  await click(page, 'tr[data-model="pulled-b"] button[data-action=load]');
  await waitState(page, "pulled-b", "ready");
  await shot(page, "models-pulled");

  step("a pull under way stops with its Cancel button");
  await page.type("#pull-form input[name=source]", slowUrl);
  await page.type("#pull-form input[name=name]", "slow-copy");  // Pulled-B.gguf is there already
  await page.$eval("#pull-form button[type=submit]", (b) => b.click());
  await click(page, ".pull button[data-cancel]:not([hidden])");
  await page.waitForFunction(() => [...document.querySelectorAll('.pull[data-event="error"]')].some((p) => p.textContent.includes("cancelled")),
    { timeout: TIMEOUT });
}

async function keys(page) {
  allow401 = true;
  step("the console asks for the admin key once");
  await page.goto(base + "/ui/", { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#key-dialog[open]", { timeout: TIMEOUT });
  const title = await page.$eval("#key-title", (e) => e.textContent);
  check(title === "Admin key", `dialog asked for: ${title}`);
  await shot(page, "key-dialog");
  await page.type("#key-input", adminKey);
  await page.$eval("#key-ok", (b) => b.click());
  await page.waitForSelector("tr[data-model]", { timeout: TIMEOUT });
  await page.waitForSelector("#connection[data-state=connected]", { timeout: TIMEOUT });
  check(!(await page.$("#key-dialog[open]")), "the dialog asked again");

  step("the playground asks for an API key");
  await view(page, "#/playground/toy");
  await page.waitForSelector("#key-dialog[open]", { timeout: TIMEOUT });
  check((await page.$eval("#key-title", (e) => e.textContent)) === "API key", "the playground did not ask for an API key");
  await page.type("#key-input", apiKey);
  await page.$eval("#key-ok", (b) => b.click());
  const a = await chat(page, "toy", "hello");
  check(a.state === "done" && a.text.length > 0, `toy answered ${JSON.stringify(a)}`);

  step("the keys live in session storage only");
  const stored = await page.evaluate(() => ({
    session: [sessionStorage.getItem("corral.admin_key"), sessionStorage.getItem("corral.api_key")],
    local: localStorage.length,
    cookies: document.cookie,
  }));
  check(stored.session[0] === adminKey && stored.session[1] === apiKey, `session storage: ${stored.session}`);
  check(stored.local === 0 && stored.cookies === "", "a key was kept beyond the session");
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  let failed = null;
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    watch(page);
    await (mode === "keys" ? keys(page) : full(page));
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
  }
  if (failed) {
    console.log(`FAILED: ${failed.stack || failed}`);
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  if (failed || problems.length) process.exit(1);
  console.log("PASSED");
})().catch((e) => {
  console.log(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
