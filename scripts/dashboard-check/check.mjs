// Opens a codeloop dashboard page (report/index.html) in headless Chromium and checks what a
// person would: the verdict and the failures are visible, the search filter and the category
// filter hide what does not match, and the page makes no network request. Saves a screenshot.
//
// Usage: node check.mjs <index.html> [screenshot.png]
// Env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { resolve } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [page_path, shot = 'docs/dashboard.png'] = process.argv.slice(2);
if (!page_path) {
  console.error('usage: node check.mjs <index.html> [screenshot.png]');
  process.exit(2);
}
const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exitCode = 1; throw new Error(msg); };

// A fresh profile each time (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'codeloop-chromium-')), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1200, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const network = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    network.push(url);
    return route.abort();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('file://' + resolve(page_path));

  const verdict = page.locator('#verdict');
  if (!(await verdict.isVisible())) fail('the verdict is not visible');
  const word = (await verdict.textContent()).trim();
  if (!['PASS', 'FAIL', 'NOT GATED'].includes(word)) fail(`unexpected verdict "${word}"`);

  const failures = page.locator('.failure');
  const total = await failures.count();
  if (word === 'FAIL' && total === 0) fail('the gate failed but no failure is listed');
  if (total > 0 && !(await failures.first().isVisible())) fail('the first failure is not visible');
  const visible = async () => page.locator('.failure:not(.hidden)').count();

  if (total > 0) {
    // Search for the first failure's title: it stays, the others that do not match go.
    const title = (await failures.first().locator('b').textContent()).trim();
    await page.fill('#q', title);
    const shown = await visible();
    const matching = await page.locator('.failure', { hasText: title }).count();
    if (shown !== matching || shown < 1) fail(`search "${title}" shows ${shown}, ${matching} match`);
    if ((await page.locator('#shown').textContent()).trim() !== String(shown)) fail('the shown counter is stale');
    await page.fill('#q', 'no failure is called this 1f3e');
    if ((await visible()) !== 0) fail('a search that matches nothing still shows failures');
    await page.fill('#q', '');
    if ((await visible()) !== total) fail('clearing the search does not show every failure again');

    // Category filter: only that category remains.
    const cat = await failures.first().getAttribute('data-category');
    await page.selectOption('#cat', cat);
    const inCat = await page.locator(`.failure[data-category="${cat}"]`).count();
    if ((await visible()) !== inCat) fail(`category ${cat}: ${await visible()} shown, ${inCat} expected`);
    await page.selectOption('#cat', '');
  }
  if (network.length) fail(`the page tried the network: ${network.join(', ')}`);
  if (errors.length) fail(`script errors: ${errors.join('; ')}`);
  await page.screenshot({ path: shot }); // the first screen: verdict, trend, runners, first failures
  console.log(`ok: verdict ${word}, ${total} failures, filters work, no network; screenshot ${shot}`);
} finally {
  await browser.close();
}
