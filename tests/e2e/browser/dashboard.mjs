// dashboard.mjs - drives Debian's Chromium (through playwright-core) over
// hushd's dashboard and prints, as one JSON object, what a person would
// see: the tables' cells, the charts' marks, what the round selector did,
// which addresses the page asked for, what it transferred, and whether the
// admin token ever reached the address bar or storage.  It judges nothing:
// tests/e2e/test_dashboard.py compares what it saw with the API.
//
// Usage: node dashboard.mjs BASE SHOTS_DIR CONFIG_JSON
//   CONFIG_JSON: {"poll": id, "synthetic": id, "frozen": round, "model": id,
//                 "token": admin token}
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, shots, configText] = process.argv.slice(2);
const cfg = JSON.parse(configText);
const out = { requests: [], console: [], pages: {} };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 20000 });
}

// Goes to a view and waits for a fresh render of it.
async function show(page, hash, selector) {
  await page.evaluate(() => { delete document.body.dataset.ready; });
  await page.evaluate((hh) => { location.hash = hh; }, hash);
  await ready(page);
  if (selector) await page.waitForSelector(selector, { timeout: 20000 });
}

async function rows(page, selector) {
  return page.$$eval(`${selector} tbody tr`, (trs) => trs.map((tr) => ({
    candidate: tr.dataset.candidate || null,
    key: tr.dataset.campaign || tr.dataset.model || null,
    cells: [...tr.children].map((td) => td.textContent.trim()),
    values: [...tr.children].map((td) => td.dataset.value ?? null),
    lo: [...tr.children].map((td) => td.dataset.lo ?? null).find((v) => v !== null) ?? null,
    hi: [...tr.children].map((td) => td.dataset.hi ?? null).find((v) => v !== null) ?? null,
    markup: tr.innerHTML,
  })));
}

async function marks(page, selector) {
  return page.$$eval(`${selector} svg`, (svgs) => svgs.map((g) => ({
    rects: g.querySelectorAll('rect').length,
    significant: g.querySelectorAll('rect.sig').length,
    circles: g.querySelectorAll('circle').length,
    lines: g.querySelectorAll('polyline').length,
    width: g.getBoundingClientRect().width,
    height: g.getBoundingClientRect().height,
  })));
}

async function shot(page, name) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') out.console.push(m.text()); });
page.on('pageerror', (e) => out.console.push('pageerror: ' + e.message));
page.on('dialog', (d) => d.accept());
async function note(req, failed) {
  const resp = failed ? null : await req.response().catch(() => null);
  const sizes = failed ? null : await req.sizes().catch(() => null);
  const headers = await req.allHeaders().catch(() => req.headers());
  out.requests.push({ url: req.url(), method: req.method(), failed: failed ? req.failure()?.errorText || 'failed' : null,
    status: resp ? resp.status() : null, auth: 'authorization' in headers,
    bytes: sizes ? sizes.responseBodySize + sizes.responseHeadersSize : null,
    encoding: resp ? (await resp.allHeaders().catch(() => ({})))['content-encoding'] || null : null });
}
page.on('requestfinished', (req) => note(req, false));
page.on('requestfailed', (req) => note(req, true));

// first load: the campaigns list
await page.goto(base + '/ui/');
await ready(page);
await page.waitForSelector('#campaigns-table');
out.pages.campaigns = { rows: await rows(page, '#campaigns-table'), shot: await shot(page, 'dashboard-campaigns') };
out.firstLoad = out.requests.filter((r) => new URL(r.url).pathname.startsWith('/ui/'));

// a poll's popular items
await show(page, `#/campaign/${cfg.poll}`, '#estimates-table');
out.pages.poll = {
  rows: await rows(page, '#estimates-table'),
  chart: await marks(page, '#estimates-chart'),
  shot: await shot(page, 'dashboard-estimates'),
};

// new reports arrive: the page shows them within a refresh, without a reload
const nReports = () => page.$eval('#estimates-table', (t) => Number(t.dataset.nReports));
const before = await nReports();
const id = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString('base64');
const posted = await fetch(base + '/v1/reports', {
  method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ campaign: cfg.poll, round: 1, batch_id: id, reports: Array(cfg.more).fill(0) }),
});
await page.waitForFunction((n) => Number(document.querySelector('#estimates-table')?.dataset.nReports) > n,
  before, { timeout: 15000 });
out.pages.refresh = {
  posted: posted.status, before, after: await nReports(),
  navigations: await page.evaluate(() => performance.getEntriesByType('navigation').length),
  rows: await rows(page, '#estimates-table'),
};
// one more refresh with nothing new: the estimates answer 304 (ETag)
await page.evaluate(() => { delete document.body.dataset.ready; });
await ready(page);

// a round below min_reports: withheld, and why
await show(page, `#/campaign/${cfg.withheld}`, '#withheld');
out.pages.withheld = { text: await page.$eval('#withheld', (p) => p.textContent) };

// a synthetic campaign: the open round, then a frozen one picked in the selector
await show(page, `#/campaign/${cfg.synthetic}`, '#round-select');
const open = await rows(page, '#estimates-table');
const options = await page.$$eval('#round-select option', (os) => os.map((o) => Number(o.value)));
await page.evaluate(() => { delete document.body.dataset.ready; });
await page.selectOption('#round-select', String(cfg.frozen));
await ready(page);
await page.waitForFunction((r) => document.querySelector('#round-select')?.value === String(r), cfg.frozen);
out.pages.synthetic = {
  open, options,
  frozen: await rows(page, '#estimates-table'),
  selected: await page.$eval('#round-select', (s) => s.value),
  roundCharts: await marks(page, '#rounds-charts'),
  roundRows: await rows(page, '#rounds-table'),
  samples: await page.$$eval('#samples li', (lis) => lis.map((li) => li.textContent)),
  shot: await shot(page, 'dashboard-synthetic'),
};

// a federated task
await show(page, `#/model/${cfg.model}`, '#model-charts');
out.pages.model = {
  charts: await marks(page, '#model-charts'),
  rows: await rows(page, '#model-rounds-table'),
  shot: await shot(page, 'dashboard-model'),
};

// operations, from /metrics
await show(page, '#/ops', '#ops-charts');
out.pages.ops = {
  charts: await marks(page, '#ops-charts'),
  rejected: await marks(page, '#rejected-chart'),
  text: await page.$eval('main', (m) => m.textContent),
  shot: await shot(page, 'dashboard-ops'),
};

// the admin token: entered, used for one action, never in the URL or storage
out.beforeToken = out.requests.length;
out.unchanged = await page.evaluate(() => Number(document.body.dataset.unchanged || 0));
await show(page, `#/campaign/${cfg.synthetic}`, '#round-select');
const buttons = await page.$$eval('button', (bs) => bs.map((b) => b.textContent));
await page.click('#admin summary');
await page.fill('#admin-token', cfg.token);
await page.evaluate(() => { delete document.body.dataset.ready; });
await page.click('#admin-form button[type=submit]');
await ready(page);
const after = await page.$$eval('button', (bs) => bs.map((b) => b.textContent));
const close = after.find((t) => t.startsWith('Close round'));
let closed = null;
if (close) {
  await page.evaluate(() => { delete document.body.dataset.ready; });
  await page.click(`button:has-text("${close}")`);
  await page.waitForSelector('#notice', { timeout: 20000 });
  closed = await page.$eval('#notice', (n) => ({ text: n.textContent, ok: n.className }));
}
out.admin = {
  before: buttons, after, closed,
  url: page.url(),
  storage: await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })),
  history: await page.evaluate(() => history.length),
  inputValue: await page.$eval('#admin-token', (i) => i.value),
};

// a phone-sized screen
const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
const p2 = await phone.newPage();
await p2.goto(base + `/ui/#/campaign/${cfg.poll}`);
await ready(p2);
await p2.waitForSelector('#estimates-table');
out.pages.phone = {
  overflow: await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
  chart: await marks(p2, '#estimates-chart'),
  shot: await shot(p2, 'dashboard-phone'),
};

await browser.close();
process.stdout.write(JSON.stringify(out) + '\n');
