// The admin UI in a real browser: Debian's headless Chromium, driven by playwright-core, against
// a real `ml-audit demo` server that scripts/test-browser starts. Pages run with JavaScript
// disabled: the UI's core navigation must not need it.
//
// Environment (set by scripts/test-browser):
//   E2E_BASE_URL     http://127.0.0.1:PORT
//   E2E_ADMIN_KEY    an admin key
//   E2E_TENANT_KEY   a read key bound to E2E_TENANT
//   E2E_TENANT       that tenant (a tenant of the demo data)
//   E2E_SCREENSHOTS  where screenshots go (default ../../target/e2e-screenshots)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.E2E_BASE_URL || '').replace(/\/$/, '');
const ADMIN_KEY = process.env.E2E_ADMIN_KEY;
const TENANT_KEY = process.env.E2E_TENANT_KEY;
const TENANT = process.env.E2E_TENANT || 'acme-bank';
const SHOTS = process.env.E2E_SCREENSHOTS || path.join(here, '..', '..', 'target', 'e2e-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

if (!BASE || !ADMIN_KEY || !TENANT_KEY) {
  throw new Error('E2E_BASE_URL, E2E_ADMIN_KEY and E2E_TENANT_KEY must be set (scripts/test-browser does it)');
}
mkdirSync(SHOTS, { recursive: true });

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function newPage() {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1360, height: 900 } });
  return { context, page: await context.newPage() };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function login(page, key) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForLoadState();
}

/** A call of the API with the admin key: its status and its JSON body. */
async function api(method, path, body) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null, text };
}

/** The text of one column (by header) of the predictions table, row by row. */
async function column(page, header) {
  const headers = await page.locator('#predictions thead th').allInnerTexts();
  const index = headers.findIndex((text) => text.trim().toLowerCase().startsWith(header.toLowerCase()));
  assert.ok(index >= 0, `no column ${header} in ${headers}`);
  return page.locator(`#predictions tbody tr td:nth-child(${index + 1})`).allInnerTexts();
}

describe('the admin UI, as an admin', () => {
  let context;
  let page;

  before(async () => {
    ({ context, page } = await newPage());
  });
  after(async () => {
    await context.close();
  });

  test('without a session every page sends to the login page, which refuses a bad key', async () => {
    const response = await page.goto(`${BASE}/predictions?status=failed`);
    assert.equal(response.status(), 200);
    const url = new URL(page.url());
    assert.equal(url.pathname, '/login');
    assert.equal(url.searchParams.get('next'), '/predictions?status=failed');
    await shot(page, '01-login');
    await page.getByLabel('API key').fill('mla_not-a-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForLoadState();
    assert.match(await page.getByRole('alert').innerText(), /unknown or revoked/);
  });

  test('logging in with an admin key shows the overview with its hourly chart', async () => {
    await login(page, ADMIN_KEY);
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('h1').innerText(), 'Overview');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'mla_session');
    assert.ok(session, 'a session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!session.value.includes(ADMIN_KEY.slice(4, 20)), 'the cookie does not hold the key');

    await page.selectOption('#window', '30d');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForLoadState();
    const lines = await page.locator('svg.hourly-chart polyline.series').evaluateAll((els) =>
      els.map((el) => el.getAttribute('data-label')),
    );
    assert.deepEqual(lines.sort(), ['credit_risk 1.4.0', 'credit_risk 2.0.0', 'fraud_detector 3.2.0']);
    const total = Number((await page.locator('#window-total').innerText()).replace(/\D/g, ''));
    assert.ok(total > 15000, `about 20,000 predictions in 30 days, saw ${total}`);
    await shot(page, '02-overview-30d');
  });

  test('the predictions list filters by model and outcome', async () => {
    await page.goto(`${BASE}/predictions`);
    await shot(page, '03-predictions');
    await page.locator('details summary').click();
    await page.selectOption('#model_name', 'fraud_detector');
    await page.fill('#decision_outcome', 'flagged');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForLoadState();
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('model_name'), 'fraud_detector');
    assert.equal(url.searchParams.get('decision_outcome'), 'flagged');
    const models = await column(page, 'Model');
    assert.ok(models.length > 0, 'some flagged fraud predictions');
    assert.ok(models.every((m) => m === 'fraud_detector'), models.join());
    assert.ok((await column(page, 'Outcome')).every((o) => o === 'flagged'));
    await shot(page, '04-predictions-filtered');

    await page.goto(`${BASE}/predictions?status=failed`);
    const statuses = await column(page, 'Status');
    assert.ok(statuses.length > 0 && statuses.every((s) => s === 'failed'));
  });

  test('the predictions list pages with keyset cursors, newest first', async () => {
    await page.goto(`${BASE}/predictions?limit=25`);
    const first = await column(page, 'Prediction');
    assert.equal(first.length, 25);
    const firstTimes = await page.locator('#predictions tbody time').evaluateAll((els) =>
      els.map((el) => el.getAttribute('datetime')),
    );
    await page.getByRole('link', { name: 'Older →' }).click();
    await page.waitForLoadState();
    assert.ok(new URL(page.url()).searchParams.get('cursor'), 'the next page is addressed by a cursor');
    const second = await column(page, 'Prediction');
    assert.equal(second.length, 25);
    assert.equal(second.filter((id) => first.includes(id)).length, 0, 'no prediction on both pages');
    const secondTimes = await page.locator('#predictions tbody time').evaluateAll((els) =>
      els.map((el) => el.getAttribute('datetime')),
    );
    assert.ok(Date.parse(secondTimes[0]) <= Date.parse(firstTimes.at(-1)), 'older on the next page');
    await shot(page, '05-predictions-page-2');
  });

  test('search finds a prediction by prediction_id and by trace_id', async () => {
    await page.goto(`${BASE}/predictions?status=partial&limit=25`);
    const id = (await column(page, 'Prediction'))[3];
    await page.fill('#q', id);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForLoadState();
    // The search keeps the other filters of the form, which still match this prediction.
    assert.deepEqual(await column(page, 'Prediction'), [id]);
    await page.getByRole('link', { name: id }).click();
    await page.waitForLoadState();
    const trace = await page.locator('dt:text("Trace id") + dd').innerText();
    await page.goto(`${BASE}/predictions?q=${encodeURIComponent(trace)}`);
    assert.deepEqual(await column(page, 'Prediction'), [id]);
  });

  test('a flagged transaction shows why: model version, actor, attribution chart, masked fields, ledger', async () => {
    await page.goto(`${BASE}/predictions?model_name=fraud_detector&decision_outcome=flagged&has_explanation=true`);
    const id = (await column(page, 'Prediction'))[0];
    await page.getByRole('link', { name: id }).click();
    await page.waitForLoadState();
    assert.match(await page.locator('h1').innerText(), new RegExp(id));
    assert.match(await page.locator('.lede').innerText(), /flagged by fraud_detector 3\.2\.0 for (service|user|job):\S+ of tenant \S+/);

    // The explanation: a summary and a bar per attribution, longest first, signed colours.
    assert.match(await page.locator('blockquote.summary').innerText(), /Flagged as likely fraud/);
    const bars = await page.locator('svg.attribution-chart g.bar-row').evaluateAll((rows) =>
      rows.map((row) => ({
        value: Number(row.getAttribute('data-value')),
        fill: row.querySelector('rect.bar').getAttribute('fill'),
      })),
    );
    assert.ok(bars.length >= 5, `attribution bars: ${bars.length}`);
    for (let i = 1; i < bars.length; i++) {
      assert.ok(Math.abs(bars[i - 1].value) >= Math.abs(bars[i].value), 'sorted by magnitude');
    }
    for (const bar of bars) {
      assert.equal(bar.fill, bar.value >= 0 ? '#C2410C' : '#1D4ED8', 'positive and negative bars differ');
    }
    assert.ok(bars.some((b) => b.value > 0) && bars.some((b) => b.value < 0), 'both signs shown');

    // Personal data was masked before storage, and the page says so.
    const masked = await page.locator('#features tr.redacted').evaluateAll((rows) =>
      rows.map((row) => [row.getAttribute('data-path'), row.querySelector('td').innerText]),
    );
    const paths = masked.map(([p]) => p);
    for (const expected of ['$.customer.email', '$.customer.phone', '$.shipping_address', '$.ip_address']) {
      assert.ok(paths.includes(expected), `${expected} is marked as redacted in ${paths}`);
    }
    for (const [, text] of masked) {
      assert.match(text, /\*{5}/);
      assert.match(text, /redacted/);
    }
    assert.doesNotMatch(await page.content(), /@example\.com/, 'no email address anywhere on the page');

    // Sealed in the ledger (the sealer runs every 200 ms; scripts/test-browser seals first).
    for (let tries = 0; tries < 20 && (await page.locator('#ledger-seq').count()) === 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await page.reload();
    }
    assert.match(await page.locator('#ledger-seq').innerText(), /^\d+$/);
    assert.match(await page.locator('#ledger-leaf').innerText(), /^[0-9a-f]{64}$/);
    await shot(page, '06-prediction-detail');
  });

  test('each prediction says who has seen it, the access log lists the views, the subject report prints', async () => {
    await page.goto(`${BASE}/predictions?model_name=fraud_detector&limit=5`);
    const id = (await column(page, 'Prediction'))[0];
    await page.getByRole('link', { name: id }).click();
    await page.waitForLoadState();
    const url = page.url();
    // Entries are written just after the answer: the second view's panel lists the first.
    let rows = 0;
    for (let tries = 0; tries < 20 && rows === 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await page.goto(url);
      rows = await page.locator('#seen-by tbody tr').count();
    }
    assert.match(await page.locator('#seen h2').innerText(), /Who has seen this/);
    assert.ok(rows >= 1, 'the first view is listed');
    assert.match(await page.locator('#seen-by tbody tr').first().innerText(), /GET \/predictions\/\{reference\}/);
    await shot(page, '06b-who-has-seen-this');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Access log' }).click();
    await page.waitForLoadState();
    assert.match(await page.locator('h1').innerText(), /Access log/);
    assert.ok((await page.locator('#access-log tbody tr').count()) >= 2, 'the views above are in the log');
    await shot(page, '06c-access-log');

    const users = await api('GET', '/api/v1/predictions?actor_type=user&limit=1');
    const actorId = users.json.items[0].actor.actor_id;
    await page.goto(`${BASE}/subjects?actor_id=${encodeURIComponent(actorId)}`);
    assert.match(await page.locator('#report h2').innerText(), new RegExp(`user ${actorId}`));
    assert.ok((await page.locator('article.report-item').count()) >= 1);
    assert.ok((await page.locator('article.report-item h4', { hasText: 'Seen by' }).count()) >= 1);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.top').isVisible(), false, 'the navigation is left off the printout');
    assert.equal(await page.locator('form.filters').isVisible(), false);
    await shot(page, '06d-subject-report-print');
    await page.emulateMedia({ media: 'screen' });
  });

  test('a re-explained prediction lists its earlier revision', async () => {
    // Revisions are rare in the demo data: look through the newest explained credit predictions.
    await page.goto(`${BASE}/predictions?model_name=credit_risk&has_explanation=true&limit=200`);
    const hrefs = await page.locator('#predictions tbody tr').evaluateAll((rows) =>
      rows.filter((r) => /revision [2-9]/.test(r.lastElementChild.querySelector('span')?.title || '')).map((r) => r.querySelector('a').href),
    );
    if (hrefs.length === 0) {
      return; // none on this page; the Rust suite covers revisions
    }
    await page.goto(hrefs[0]);
    assert.match(await page.locator('#h-revisions').innerText(), /Earlier explanation revisions/);
    assert.ok((await page.locator('ol.revisions li').count()) >= 1);
    await shot(page, '07-prediction-revisions');
  });

  test('the models page shows each version with its count, outcome mix and confidence histogram', async () => {
    await page.goto(`${BASE}/models`);
    const cards = page.locator('article.model');
    assert.equal(await cards.count(), 3);
    for (const [model, version] of [
      ['fraud_detector', '3.2.0'],
      ['credit_risk', '1.4.0'],
      ['credit_risk', '2.0.0'],
    ]) {
      const card = page.locator(`article.model[data-model="${model}"][data-version="${version}"]`);
      const count = Number((await card.locator('.predictions').innerText()).replace(/\D/g, ''));
      assert.ok(count > 1000, `${model} ${version}: ${count}`);
      assert.equal(await card.locator('svg.histogram rect.bin').count(), 10);
      assert.ok((await card.locator('svg.stacked rect').count()) >= 3, 'an outcome mix');
      // The demo runs with the default retention: kept forever.
      assert.equal(await card.locator('.retention').innerText(), 'Retention: forever');
    }
    await shot(page, '08-models');
  });

  test("the models page shows each version's quality, and credit_risk 2.x is overridden more often than 1.x", async () => {
    await page.goto(`${BASE}/models`);
    const rates = {};
    for (const [model, version] of [
      ['fraud_detector', '3.2.0'],
      ['credit_risk', '1.4.0'],
      ['credit_risk', '2.0.0'],
    ]) {
      const card = page.locator(`article.model[data-model="${model}"][data-version="${version}"]`);
      const id = (await card.getAttribute('id')).replace(/^model-/, '');
      const quality = card.locator('section.quality');
      assert.equal(await quality.count(), 1, `${model} ${version} has a quality section`);

      // Accuracy, from the labelled outcomes (the demo's models are right 78–90% of the time).
      const accuracyText = await quality.locator('dd.accuracy').innerText();
      const accuracy = parseFloat(accuracyText);
      assert.ok(accuracy > 60 && accuracy < 100, `${model} ${version} accuracy ${accuracyText}`);
      const labelled = Number(accuracyText.replace(/^.*of ([\d\s\u202f]+) labelled.*$/s, '$1').replace(/\D/g, ''));
      assert.ok(labelled > 100, `${model} ${version}: ${labelled} labelled outcomes`);

      // The confusion matrix: square, its counts add up to the labelled outcomes, the diagonal
      // (right decisions) to the accuracy.
      const matrix = quality.locator('table.confusion');
      assert.equal(await matrix.count(), 1);
      const labels = await matrix.locator('thead th').allInnerTexts();
      const size = labels.length - 1; // and the corner
      assert.ok(size >= 2, `labels ${labels}`);
      const cells = await matrix.locator('td.cell').evaluateAll((tds) =>
        tds.map((td) => ({ p: td.dataset.predicted, a: td.dataset.actual, n: Number(td.dataset.count) })),
      );
      assert.equal(cells.length, size * size);
      assert.equal(await matrix.locator('tfoot tr.recall td').count(), size, 'a recall per label');
      assert.equal(await matrix.locator('tfoot tr.precision td').count(), size, 'a precision per label');
      const total = cells.reduce((sum, c) => sum + c.n, 0);
      const right = cells.filter((c) => c.p === c.a).reduce((sum, c) => sum + c.n, 0);
      assert.equal(total, labelled);
      assert.ok(Math.abs((100 * right) / total - accuracy) < 0.06, `diagonal ${right}/${total} vs ${accuracy}%`);

      // The override rate, as the quality API reports it.
      const rateCell = quality.locator('dd.override-rate');
      const rate = parseFloat(await rateCell.locator('strong').innerText());
      const overridden = Number(await rateCell.getAttribute('data-overridden'));
      const api_ = await api('GET', `/api/v1/models/${id}/quality`);
      assert.equal(api_.status, 200, api_.text);
      assert.equal(overridden, api_.json.overridden);
      assert.ok(Math.abs(rate - (100 * api_.json.overridden) / api_.json.predictions) < 0.051, `${rate}%`);
      assert.equal(Number(await quality.locator('dd.reviewed').getAttribute('data-value')), api_.json.reviewed);
      assert.equal(Number(await quality.locator('dd.with-outcome').getAttribute('data-value')), api_.json.with_outcome);
      assert.match(await quality.locator('dd.regression').innerText(), /^\d\.\d{3} \/ \d\.\d{3} /, 'MAE / RMSE');
      rates[`${model} ${version}`] = rate;

      // Accuracy per day: a dot per day with enough outcomes, each a share.
      const days = await quality.locator('svg.accuracy-chart circle.day').evaluateAll((dots) =>
        dots.map((dot) => Number(dot.dataset.accuracy)),
      );
      assert.ok(days.length >= 3, `${model} ${version}: ${days.length} days drawn`);
      assert.ok(days.every((a) => a >= 0 && a <= 1));
    }
    assert.ok(
      rates['credit_risk 2.0.0'] > rates['credit_risk 1.4.0'],
      `2.0.0 is overridden more often (${rates['credit_risk 2.0.0']}%) than 1.4.0 (${rates['credit_risk 1.4.0']}%)`,
    );
    const compare = page.locator('article.model[data-version="2.0.0"] p.compare');
    assert.match(await compare.innerText(), /^Overridden \d+\.\d× as often as 1\.4\.0$/);
    assert.ok(parseFloat((await compare.innerText()).replace('Overridden ', '')) > 1);
    await shot(page, '08b-models-quality');
  });

  test('the list filters by review and ground truth, and a reviewed prediction shows its timeline and final decision', async () => {
    await page.goto(`${BASE}/predictions`);
    await page.locator('details summary').click();
    await page.selectOption('#reviewed', 'true');
    await page.selectOption('#overridden', 'true');
    await page.selectOption('#has_outcome', 'true');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForLoadState();
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('reviewed'), 'true');
    assert.equal(url.searchParams.get('overridden'), 'true');
    assert.equal(url.searchParams.get('has_outcome'), 'true');
    const decisions = await column(page, 'Final decision');
    assert.ok(decisions.length > 0, 'some overridden predictions with an outcome');
    assert.ok(decisions.every((d) => /overridden/.test(d)), decisions.join());
    assert.ok((await column(page, 'Ground truth')).every((t) => t.trim() !== '—'));
    await shot(page, '17-predictions-overridden');

    const href = await page.locator('#predictions tbody tr a').first().getAttribute('href');
    const id = href.split('/').pop();
    await page.goto(`${BASE}${href}`);
    const stored = (await api('GET', `/api/v1/predictions/${id}`)).json;
    const outcomes = (await api('GET', `/api/v1/predictions/${id}/outcomes`)).json.items;
    assert.ok(outcomes.length >= 1 && stored.reviews.length >= 1);

    // The final decision: the override's, marked overridden, with the review state.
    const line = page.locator('#final-decision');
    assert.equal(await line.getAttribute('data-overridden'), 'true');
    assert.equal(await line.getAttribute('data-review-state'), stored.review_state);
    assert.equal(await page.locator('#final-decision-value').innerText(), stored.final_decision);
    assert.notEqual(stored.final_decision, stored.decision_outcome);
    assert.match(await line.innerText(), new RegExp(`^Final decision: ${stored.final_decision} .*overridden.*the model decided ${stored.decision_outcome}`));

    // The timeline: the prediction first, then its explanations, outcomes and reviews, by time.
    const events = await page.locator('#timeline li.event').evaluateAll((items) =>
      items.map((li) => ({
        kind: li.dataset.kind,
        at: li.querySelector('.when time').getAttribute('datetime'),
        current: li.dataset.current,
        text: li.innerText,
      })),
    );
    assert.equal(events[0].kind, 'prediction');
    const times = events.map((e) => Date.parse(e.at));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');
    const outcomeEvents = events.filter((e) => e.kind === 'outcome');
    assert.equal(outcomeEvents.length, outcomes.length);
    assert.equal(outcomeEvents.filter((e) => e.current === 'true').length, 1, 'one current outcome');
    const current = outcomeEvents.find((e) => e.current === 'true');
    assert.match(current.text, new RegExp(`Outcome: ${stored.outcome.label}\\b.*source ${stored.outcome.source}.*current`, 's'));
    const reviewEvents = events.filter((e) => e.kind === 'review');
    assert.equal(reviewEvents.length, stored.reviews.length);
    const override = stored.reviews.find((r) => r.action === 'override');
    const shown = reviewEvents.find((e) => /override/.test(e.text));
    assert.ok(shown, 'the override is on the timeline');
    assert.match(shown.text, new RegExp(`Review by ${override.reviewer.reviewer_id}.*override → ${override.final_decision}`, 's'));
    for (const code of override.reason_codes) {
      assert.ok(shown.text.includes(code), `reason code ${code}`);
    }
    if (override.comment) {
      assert.ok(shown.text.includes(override.comment), 'the comment');
    }
    if (stored.explanation) {
      assert.ok(events.some((e) => e.kind === 'explanation'), 'the explanation is on the timeline');
    }
    await shot(page, '18-prediction-timeline');
  });

  test('review_state=pending_second lists predictions whose detail page says the review is pending', async () => {
    await page.goto(`${BASE}/predictions?review_state=pending_second&limit=25`);
    assert.equal(await page.locator('#review_state').inputValue(), 'pending_second', 'the form keeps the filter');
    const states = await page.locator('#predictions tbody td.decision').evaluateAll((tds) => tds.map((td) => td.dataset.reviewState));
    assert.ok(states.length > 0, 'the demo leaves some overrides of credit_risk waiting for a second reviewer');
    assert.ok(states.every((s) => s === 'pending_second'), states.join());
    assert.ok((await column(page, 'Final decision')).every((d) => /pending 2nd/.test(d)));
    assert.ok((await column(page, 'Model')).every((m) => m === 'credit_risk'), 'only the two-person model has pending reviews');
    await shot(page, '19-predictions-pending');
    const hrefs = (await page.locator('#predictions tbody tr td:first-child a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))).slice(0, 3);
    for (const href of hrefs) {
      await page.goto(`${BASE}${href}`);
      const line = page.locator('#final-decision');
      assert.equal(await line.getAttribute('data-review-state'), 'pending_second', href);
      assert.match(await line.innerText(), /pending second review.*waits for a second reviewer/s);
      assert.equal(await line.getAttribute('data-overridden'), 'false', 'a pending override does not change the decision yet');
      assert.ok((await page.locator('#timeline li.event[data-kind="review"]').count()) >= 1);
    }
    await shot(page, '20-prediction-pending');
  });

  test('the tenants and actors pages list every tenant with counts', async () => {
    await page.goto(`${BASE}/tenants`);
    const tenants = await page.locator('#tenants tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.tenant));
    assert.deepEqual(tenants, ['acme-bank', 'globex-lending', 'initech-pay']);
    await shot(page, '09-tenants');
    await page.goto(`${BASE}/actors`);
    assert.ok((await page.locator('#actors tbody tr').count()) > 10);
    await shot(page, '10-actors');
  });

  test('an erased prediction shows what remains, and when, by which erasure and why it was erased', async () => {
    // An explained fraud prediction of a tenant other than E2E_TENANT (the tenant-bound test
    // below expects its newest 200 predictions intact), erased through the API.
    await page.goto(`${BASE}/tenants`);
    const tenants = await page.locator('#tenants tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.tenant));
    const other = tenants.find((t) => t !== TENANT);
    await page.goto(
      `${BASE}/predictions?tenant_id=${encodeURIComponent(other)}&model_name=fraud_detector&has_explanation=true&limit=25`,
    );
    const link = page.locator('#predictions tbody tr a').nth(5);
    const predictionId = await link.innerText();
    const id = (await link.getAttribute('href')).split('/').pop();
    const before = await api('GET', `/api/v1/predictions/${id}`);
    assert.equal(before.status, 200, before.text);
    assert.ok(before.json.explanation, 'it had an explanation');

    const erased = await api('POST', '/api/v1/erasures', { predictions: [id], reason: 'e2e' });
    assert.equal(erased.status, 201, erased.text);
    assert.equal(erased.json.erased.predictions, 1);
    const erasureId = erased.json.id;

    await page.goto(`${BASE}/predictions/${id}`);
    assert.match(await page.locator('h1').innerText(), new RegExp(`${id}\\s+erased`));
    const banner = await page.locator('#erased .erased-line').innerText();
    assert.match(banner, new RegExp(`^Erased \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC by erasure ${erasureId}: e2e$`));
    // What an erasure keeps.
    assert.match(await page.locator('.lede').innerText(), /by fraud_detector 3\.2\.0 at /);
    assert.equal(await page.locator('dt:text("Outcome") + dd').innerText(), before.json.decision_outcome);
    assert.equal(await page.locator('dt:text("Confidence") + dd').innerText(), before.json.confidence.toFixed(3));
    assert.equal(await page.locator('dt:text("Status") + dd').innerText(), before.json.status);
    assert.equal(await page.locator('#ledger-seq').innerText(), String(before.json.ledger.seq));
    // What it destroyed: marked erased, never shown as empty documents.
    for (const field of ['Trace id', 'Actor', 'IP address', 'Input fingerprint']) {
      assert.equal(await page.locator(`dt:text("${field}") + dd`).innerText(), 'erased', field);
    }
    assert.match(await page.locator('#features-erased').innerText(), /^erased/);
    assert.equal(await page.locator('#features, #metadata, pre.output').count(), 0, 'no document tables');
    assert.equal(await page.locator('blockquote.summary, svg.attribution-chart').count(), 0, 'no explanation');
    assert.match(await page.locator('#h-explanation + p').innerText(), /Erased/);
    const html = await page.content();
    assert.ok(!html.includes(predictionId), 'its prediction_id is not shown');
    assert.ok(!html.includes(before.json.trace_id), 'nor its trace id');
    assert.doesNotMatch(html, />null</, 'no blank JSON');
    await shot(page, '14-erased-prediction');

    // The banner links to the erasure, listed first with its counts and its own ledger leaf.
    await page.locator('#erased a').click();
    await page.waitForLoadState();
    assert.equal(new URL(page.url()).pathname, '/erasures');
    assert.equal(await page.locator('h1').innerText(), 'Erasures');
    assert.equal(await page.locator('nav[aria-label="Main"] a[aria-current="page"]').innerText(), 'Erasures');
    const row = page.locator(`#erasures tbody tr[data-erasure="${erasureId}"]`);
    assert.equal(await row.count(), 1);
    assert.equal(await page.locator('#erasures tbody tr').first().getAttribute('data-erasure'), erasureId, 'newest first');
    const cells = await row.locator('td').allInnerTexts();
    const counts = erased.json.erased;
    assert.deepEqual(cells.slice(2, 7), ['e2e', '1', String(counts.explanations), String(counts.outcomes), String(counts.reviews)]);
    assert.equal(cells[7], 'any', 'asked for by an unbound admin key');
    assert.equal(cells[8], String(erased.json.ledger.seq));
    assert.match(await page.locator('.how-to').innerText(), /POST[\s\S]*\/api\/v1\/erasures/);
    await shot(page, '15-erasures');

    // The list marks the erased row, found by its id (its prediction_id no longer finds it).
    await page.goto(`${BASE}/predictions?q=${id}`);
    assert.equal(await page.locator('#predictions tbody tr.erased').count(), 1);
    assert.match((await column(page, 'Prediction'))[0], new RegExp(`${id}\\s+erased`));
    await page.goto(`${BASE}/predictions?q=${encodeURIComponent(predictionId)}`);
    assert.equal(await page.locator('#predictions tbody tr.erased').count(), 0);
  });

  test('the holds page shows each hold with its scope, until, reason, state and ledger seq', async () => {
    const until = new Date(Date.now() + 30 * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
    const standing = await api('POST', '/api/v1/holds', {
      reason: 'e2e litigation',
      tenant_id: TENANT,
      model_name: 'credit_risk',
      until,
    });
    assert.equal(standing.status, 201, standing.text);
    await page.goto(`${BASE}/predictions?limit=25`);
    const held = (await page.locator('#predictions tbody tr a').first().getAttribute('href')).split('/').pop();
    const released = await api('POST', '/api/v1/holds', { reason: 'e2e audit', predictions: [held] });
    assert.equal(released.status, 201, released.text);
    const release = await api('POST', `/api/v1/holds/${released.json.id}/release`, { reason: 'e2e done' });
    assert.equal(release.status, 200, release.text);

    await page.goto(`${BASE}/holds`);
    assert.equal(await page.locator('h1').innerText(), 'Legal holds');
    const rows = await page.locator('#holds tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.hold));
    assert.deepEqual(rows.slice(0, 2), [released.json.id, standing.json.id], 'newest first');

    const active = page.locator(`#holds tr[data-hold="${standing.json.id}"]`);
    assert.equal(await active.getAttribute('data-state'), 'active');
    const scope = await active.locator('ul.scope').innerText();
    assert.match(scope, new RegExp(`tenant ${TENANT}`));
    assert.match(scope, /model credit_risk/);
    assert.equal(await active.locator('td:nth-child(4) time').getAttribute('datetime'), until);
    assert.equal(await active.locator('td.reason').innerText(), 'e2e litigation');
    assert.equal(await active.locator('td.state').innerText(), 'active');
    assert.match(await active.locator('td.num').innerText(), /^\d+$/);

    const done = page.locator(`#holds tr[data-hold="${released.json.id}"]`);
    assert.equal(await done.getAttribute('data-state'), 'released');
    assert.match(await done.locator('td.state').innerText(), /^released \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: e2e done$/);
    assert.match(await done.locator('ul.scope').innerText(), /1 prediction/);
    assert.equal(await done.locator(`ul.scope a[href="/predictions/${held}"]`).count(), 1);
    assert.match(await done.locator('td:nth-child(4)').innerText(), /until released/);
    assert.ok(Number(await page.locator('#holds-active').innerText()) >= 1);
    assert.match(await page.locator('.how-to').innerText(), /\/api\/v1\/holds/);
    await shot(page, '16-holds');
  });

  test('logging out clears the cookie, and pages send to the login page again', async () => {
    await page.goto(`${BASE}/models`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForLoadState();
    assert.equal(new URL(page.url()).pathname, '/login');
    const cookies = await context.cookies();
    assert.equal(cookies.find((c) => c.name === 'mla_session'), undefined, 'the session cookie is gone');
    await page.goto(`${BASE}/predictions`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.goto(`${BASE}/models`);
    assert.equal(new URL(page.url()).pathname, '/login');
  });
});

describe('the admin UI, as a tenant-bound read key', () => {
  let foreign; // a prediction of another tenant, found as admin

  before(async () => {
    const { context, page } = await newPage();
    await login(page, ADMIN_KEY);
    await page.goto(`${BASE}/tenants`);
    const other = (await page.locator('#tenants tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.tenant))).find(
      (t) => t !== TENANT,
    );
    await page.goto(`${BASE}/predictions?tenant_id=${encodeURIComponent(other)}`);
    foreign = {
      tenant: other,
      href: await page.locator('#predictions tbody tr a').first().getAttribute('href'),
      id: await page.locator('#predictions tbody tr a').first().innerText(),
    };
    await context.close();
  });

  test("cannot open another tenant's prediction and sees only its tenant in lists", async () => {
    const { context, page } = await newPage();
    await login(page, TENANT_KEY);
    assert.match(await page.locator('.who').innerText(), new RegExp(`tenant ${TENANT}`));

    const response = await page.goto(`${BASE}${foreign.href}`);
    assert.equal(response.status(), 404, `${foreign.tenant}'s prediction must be hidden`);
    await shot(page, '11-tenant-key-foreign-prediction-404');
    const byExternalId = await page.goto(`${BASE}/predictions/${encodeURIComponent(foreign.id)}`);
    assert.equal(byExternalId.status(), 404);

    await page.goto(`${BASE}/predictions?limit=200`);
    const tenants = await column(page, 'Tenant');
    assert.equal(tenants.length, 200);
    assert.ok(tenants.every((t) => t === TENANT), 'only its tenant in the list');
    await shot(page, '12-tenant-key-predictions');
    await page.goto(`${BASE}/predictions?q=${encodeURIComponent(foreign.id)}`);
    assert.equal(await page.locator('#predictions').count(), 0, 'search does not find it either');
    await page.goto(`${BASE}/predictions?tenant_id=${encodeURIComponent(foreign.tenant)}`);
    assert.equal(await page.locator('#predictions').count(), 0, 'a tenant filter cannot widen the view');

    await page.goto(`${BASE}/tenants`);
    const visible = await page.locator('#tenants tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.tenant));
    assert.deepEqual(visible, [TENANT]);
    await page.goto(`${BASE}/actors`);
    const actorTenants = await page.locator('#actors tbody tr td:first-child').allInnerTexts();
    assert.ok(actorTenants.length > 0 && actorTenants.every((t) => t === TENANT));
    await page.goto(`${BASE}/`);
    await shot(page, '13-tenant-key-overview');
    await context.close();
  });

  test('a read key sees no erasures or holds: not in the navigation, and 403 as in the API', async () => {
    const { context, page } = await newPage();
    await login(page, TENANT_KEY);
    const nav = await page.locator('nav[aria-label="Main"] a').allInnerTexts();
    assert.ok(!nav.includes('Erasures') && !nav.includes('Holds'), nav.join());
    for (const path of ['/erasures', '/holds']) {
      const response = await page.goto(`${BASE}${path}`);
      assert.equal(response.status(), 403, path);
      assert.match(await page.getByRole('alert').innerText(), /needs an admin key/);
      assert.equal(await page.locator('#erasures, #holds').count(), 0);
    }
    await page.goto(`${BASE}/models`);
    assert.equal(await page.locator('article.model .retention').first().innerText(), 'Retention: forever');
    // Quality over its tenant's predictions only: fewer than all tenants', as the API says.
    for (const card of await page.locator('article.model').all()) {
      const id = (await card.getAttribute('id')).replace(/^model-/, '');
      const everyone = (await api('GET', `/api/v1/models/${id}/quality`)).json;
      const own = Number(await card.locator('dd.with-outcome').getAttribute('data-value'));
      assert.ok(own > 0 && own < everyone.with_outcome, `${own} of ${everyone.with_outcome}`);
      const own_tenant = (await api('GET', `/api/v1/models/${id}/quality?tenant_id=${encodeURIComponent(TENANT)}`)).json;
      assert.equal(own, own_tenant.with_outcome);
    }
    await context.close();
  });
});
