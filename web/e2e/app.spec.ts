// End-to-end in Debian's Chromium against the embedded server (see server.ts).
import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import { createRequire } from 'node:module';
import { DateTime } from 'luxon';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const base = () => process.env.E2E_BASE_URL!;
const TZ = 'Europe/Paris';

// The tests run in order in one worker; what one finds for the next is kept in a file, since
// a failed test restarts the worker (and a failure should not hide the tests after it).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const STATE = process.env.E2E_STATE_FILE; // unset while the runner only lists the tests
let memory: State = { wid: 0, accountId: 0, publishedPostId: 0 };
type State = { wid: number; accountId: number; publishedPostId: number; stamp?: number };
const load = (): State => (STATE && existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')) : memory);
const save = (patch: Partial<State>) => {
  memory = { ...load(), ...patch };
  if (STATE) writeFileSync(STATE, JSON.stringify(memory));
};
let { wid, accountId, publishedPostId } = load();
if (!load().stamp) save({ stamp: Date.now() });
const stamp = load().stamp!;
const owner = { email: `owner-${stamp}@example.com`, password: 'a-long-password-1', name: 'Olive Owner' };
const viewer = { email: `viewer-${stamp}@example.com`, password: 'a-long-password-2', name: 'Vic Viewer' };
test.beforeEach(() => ({ wid, accountId, publishedPostId } = load()));

async function csrf(ctx: BrowserContext): Promise<string> {
  return (await ctx.cookies()).find((c) => c.name === 'clientnest_csrf')?.value ?? '';
}

/** An API call with the browser's session cookie (and the CSRF header a write needs). */
async function call(page: Page, method: string, path: string, data?: unknown) {
  const r = await page.request.fetch(base() + path, {
    method,
    data: data === undefined ? undefined : data,
    headers: { 'X-CSRF-Token': await csrf(page.context()), 'Content-Type': 'application/json' },
  });
  const text = await r.text();
  return { status: r.status(), body: text ? JSON.parse(text) : null };
}

async function axeScan(page: Page, name: string) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // @ts-expect-error injected
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v: { id: string; impact: string; help: string; nodes: { target: string[]; html: string; failureSummary?: string }[] }) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.html.slice(0, 160)} ${(n.failureSummary ?? '').slice(0, 200)}`),
    }));
  });
  const bad = result.filter((v: { impact: string }) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${name}: serious or critical accessibility violations`).toEqual([]);
}

async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto(base() + '/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/w\/\d+\/calendar/);
}

test('register, and the login and register pages pass axe', async ({ page }) => {
  await page.goto(base() + '/login');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await axeScan(page, 'login');
  // a wrong password is said in words
  await page.getByLabel('Email').fill('nobody@example.com');
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toBeVisible();

  await page.getByRole('link', { name: 'Create an account' }).click();
  await expect(page.getByRole('heading', { name: 'Create an account' })).toBeVisible();
  await axeScan(page, 'register');
  await page.getByLabel('Your name').fill(owner.name);
  await page.getByLabel('Email').fill(owner.email);
  await page.getByLabel('Password').fill(owner.password);
  await page.getByLabel('Workspace name').fill('E2E Agency');
  await page.getByLabel(/Time zone/).fill(TZ);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/w\/\d+\/calendar/);
  wid = Number(page.url().match(/\/w\/(\d+)\//)![1]);
  save({ wid });
  await expect(page.getByRole('heading', { name: 'Calendar' })).toBeVisible();
  await expect(page.getByText(`Times in ${TZ}`)).toBeVisible();
  await axeScan(page, 'calendar');
});

test('connect X through the sandbox OAuth', async ({ page }) => {
  await signIn(page, owner);
  await page.goto(`${base()}/w/${wid}/accounts`);
  await axeScan(page, 'accounts (empty)');
  await page.getByRole('button', { name: /Connect X/ }).click();
  await expect(page).toHaveURL(new RegExp(`/w/${wid}/accounts`));
  await expect(page.getByRole('status')).toContainText('Connected');
  await expect(page.locator('.account')).toHaveCount(1);
  await expect(page.locator('.account .badge')).toHaveText('connected');
  const accounts = await call(page, 'GET', `/api/v1/workspaces/${wid}/accounts`);
  accountId = accounts.body[0].id;
  save({ accountId });
  expect(accounts.body[0].platform).toBe('twitter');
  await axeScan(page, 'accounts');
});

test('a 281-character post shows the error; fixed and scheduled, it turns published on the open calendar', async ({ page }) => {
  await signIn(page, owner);
  await page.goto(`${base()}/w/${wid}/compose`);
  await page.getByRole('checkbox', { name: /ClientNest Sandbox/ }).check();
  const text = page.getByLabel('Text', { exact: true });
  await text.fill('x'.repeat(281));
  await expect(page.getByTestId('counter-twitter')).toHaveText('281 / 280');
  await expect(page.getByText('281 characters: the limit is 280 (1 too many)')).toBeVisible();
  await axeScan(page, 'composer');
  // the server says so too, next to the account
  await page.getByLabel('Save as draft').check();
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.locator('.checks').getByRole('alert')).toContainText('281 characters');

  const body = `Launch day ${stamp}: our spring collection is live https://example.com/spring`;
  await text.fill(body);
  await expect(page.getByTestId('counter-twitter')).toHaveText(`${body.length - 'https://example.com/spring'.length + 23} / 280`);
  await page.getByLabel('Schedule', { exact: true }).check();
  const at = DateTime.now().setZone(TZ).plus({ seconds: 12 });
  await page.getByLabel(/Date and time/).fill(at.toFormat("yyyy-LL-dd'T'HH:mm:ss"));
  // a double click makes one post (Idempotency-Key)
  await page.getByRole('button', { name: 'Schedule' }).dblclick();
  await expect(page.getByRole('status')).toContainText('Saved post');
  const posts = await call(page, 'GET', `/api/v1/workspaces/${wid}/posts?limit=100`);
  const mine = posts.body.items.filter((p: { text: string }) => p.text === body);
  expect(mine).toHaveLength(1);
  publishedPostId = mine[0].id;
  save({ publishedPostId });

  await page.getByRole('link', { name: 'See it on the calendar' }).click();
  await expect(page.locator('.fc')).toBeVisible();
  const ev = page.locator(`[data-post-id="${publishedPostId}"]`);
  await expect(ev).toHaveAttribute('data-status', 'scheduled');
  // note when the calendar first shows it published (a reload would lose these marks)
  await page.evaluate((pid) => {
    const w = window as unknown as { __noReload: boolean; __shownPublishedAt?: number };
    w.__noReload = true;
    new MutationObserver(() => {
      if (!w.__shownPublishedAt && document.querySelector(`[data-post-id="${pid}"][data-status="published"]`)) w.__shownPublishedAt = Date.now();
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  }, publishedPostId);
  await expect(ev).toHaveAttribute('data-status', 'published', { timeout: 30_000 });
  const shownAt = await page.evaluate(() => (window as unknown as { __shownPublishedAt: number }).__shownPublishedAt);
  const stored = await call(page, 'GET', `/api/v1/workspaces/${wid}/posts/${publishedPostId}`);
  const publishedAt = DateTime.fromISO(stored.body.targets[0].published_at).toMillis();
  // the lag is reported, not asserted: CI machines are shared and noisy, so the
  // < 1 s goal is measured by the events benchmark (make bench); set
  // E2E_LIVE_MAX_MS to make this run fail above a bound on a quiet machine
  console.log(`published -> shown on the open calendar: ${shownAt - publishedAt} ms`);
  if (process.env.E2E_LIVE_MAX_MS) expect(shownAt - publishedAt).toBeLessThan(Number(process.env.E2E_LIVE_MAX_MS));
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  await ev.click();
  await expect(page.getByRole('region', { name: 'Post details' })).toContainText('Published');
  // the change came through the workspace's event stream (without it the page polls every 5 s)
  await expect(page.getByText('● live')).toBeVisible();
});

test('drag a post to another day: the new time is stored', async ({ page }) => {
  await signIn(page, owner);
  const now = DateTime.now().setZone(TZ);
  // a day in this month's grid, and the day after it (both in the visible month view)
  const from = now.day <= 20 ? now.plus({ days: 3 }) : now.minus({ days: 6 });
  const fromAt = from.set({ hour: 10, minute: 15, second: 0, millisecond: 0 });
  const created = await call(page, 'POST', `/api/v1/workspaces/${wid}/posts`, {
    account_ids: [accountId], text: `Drag me ${stamp}`, scheduled_at: fromAt.toISO(),
  });
  expect(created.status).toBe(201);
  const pid = created.body.id;
  await page.goto(`${base()}/w/${wid}/calendar`);
  const ev = page.locator(`[data-post-id="${pid}"]`);
  await expect(ev).toBeVisible();
  const to = from.plus({ days: 1 });
  const cell = page.locator(`td.fc-daygrid-day[data-date="${to.toISODate()}"]`);
  const a = (await ev.boundingBox())!;
  const b = (await cell.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) {
    await page.mouse.move(a.x + a.width / 2 + ((b.x + b.width / 2 - a.x - a.width / 2) * i) / 12, a.y + a.height / 2 + ((b.y + b.height / 2 - a.y - a.height / 2) * i) / 12);
    await page.waitForTimeout(30);
  }
  await page.mouse.up();
  await expect(page.getByRole('status')).toContainText(`Post ${pid} moved to ${to.toISODate()} 10:15`);
  const stored = await call(page, 'GET', `/api/v1/workspaces/${wid}/posts/${pid}`);
  const at = DateTime.fromISO(stored.body.scheduled_at).setZone(TZ);
  expect(at.toISODate()).toBe(to.toISODate());
  expect(at.toFormat('HH:mm')).toBe('10:15');
});

test('reply to a comment from the inbox', async ({ page }) => {
  await signIn(page, owner);
  const post = await call(page, 'GET', `/api/v1/workspaces/${wid}/posts/${publishedPostId}`);
  const tweetId = post.body.targets[0].external_id;
  expect(tweetId).toBeTruthy();
  const r = await page.request.post(`${base()}/sandbox/twitter/_sandbox/comments`, { data: { post_id: tweetId, text: 'Is the blue one back in stock? Please help' } });
  expect(r.status()).toBe(201);
  await page.goto(`${base()}/w/${wid}/inbox`);
  await expect(page.getByRole('heading', { name: 'Inbox' })).toBeVisible();
  const comment = page.locator('.comment').filter({ hasText: 'Is the blue one back in stock?' });
  await expect(async () => {
    await page.reload();
    await expect(comment).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 45_000 });
  await axeScan(page, 'inbox');
  await expect(comment.locator('.badge').first()).toBeVisible();
  // an AI draft fills the reply box; a person edits and sends it
  await comment.getByRole('button', { name: 'Draft with AI' }).click();
  await expect(comment.getByLabel(/Reply to/)).not.toHaveValue('', { timeout: 20_000 });
  await comment.getByLabel(/Reply to/).fill('Yes! Back in stock since Monday.');
  await comment.getByRole('button', { name: 'Send reply' }).click();
  await expect(comment.locator('.reply-status')).toContainText(/Reply (queued|sending|sent)/);
});

test('a chart on the analytics page', async ({ page }) => {
  await signIn(page, owner);
  const post = await call(page, 'GET', `/api/v1/workspaces/${wid}/posts/${publishedPostId}`);
  await page.request.post(`${base()}/sandbox/twitter/_sandbox/metrics`, { data: { post_id: post.body.targets[0].external_id, metrics: { likes: 7, impressions: 120, shares: 2 } } });
  await page.goto(`${base()}/w/${wid}/analytics`);
  await expect(page.getByRole('heading', { name: 'Totals per post' })).toBeVisible();
  await expect(page.getByTestId('chart').first().locator('canvas')).toBeVisible();
  // the summary names its period and the workspace's zone; a fresh account's best times are platform defaults
  await expect(page.getByRole('heading', { name: 'Summary' })).toBeVisible();
  await expect(page.getByTestId('summary-period')).toContainText(`(30 days, ${TZ})`);
  await expect(page.getByTestId('card-Posts published')).toBeVisible();
  await page.getByLabel('Period').selectOption('7');
  await expect(page.getByTestId('summary-period')).toContainText(`(7 days, ${TZ})`);
  await expect(page.getByTestId('best-source')).toContainText('Not enough history');
  await expect(page.getByTestId('ranked').locator('li').first()).toBeVisible();
  await expect(page.getByRole('link', { name: 'Export CSV' })).toHaveAttribute('href', new RegExp(`/api/v1/workspaces/${wid}/analytics/export\\.csv\\?from=`));
  await axeScan(page, 'analytics');
});

test('analytics of the demo workspace: summary figures and a best-time heatmap from its history', async ({ page }) => {
  const email = process.env.E2E_DEMO_EMAIL, password = process.env.E2E_DEMO_PASSWORD;
  test.skip(!email || !password, 'the demo login was not printed (E2E_BASE_URL given)');
  await signIn(page, { email: email!, password: password! });
  const me = await call(page, 'GET', '/api/v1/me');
  const demoWid = me.body.workspaces[0].id as number;
  await page.goto(`${base()}/w/${demoWid}/analytics`);
  await page.getByLabel('Period').selectOption('90');
  await expect(page.getByTestId('summary-period')).toContainText('(90 days, ');
  // 90 days of seeded posts: the count is a number, not the missing-figure dash
  await expect(page.getByTestId('card-Posts published').locator('.stat-value')).toHaveText(/^[1-9][\d,]*$/);
  await expect(page.getByTestId('best-source')).toContainText('own history');
  await expect(page.getByTestId('best-times').getByTestId('chart').locator('canvas').first()).toBeVisible();
  await expect(page.getByTestId('ranked').locator('li')).toHaveCount(5);
  await expect(page.getByTestId('ranked').locator('li').first()).toContainText('median engagement rate');
  await expect(page.getByTestId('top-posts').locator('tbody tr').first()).toBeVisible();
  await axeScan(page, 'analytics (demo)');
});

test('settings page passes axe and shows a new token once', async ({ page }) => {
  await signIn(page, owner);
  await page.goto(`${base()}/w/${wid}/settings`);
  await expect(page.getByRole('heading', { name: 'Members and roles' })).toBeVisible();
  await page.getByLabel('Label').fill('ci');
  await page.getByLabel('Your password').fill(owner.password);
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('new-token')).toContainText('cn_');
  await axeScan(page, 'settings');
});

test('a viewer finds no compose button', async ({ page, browser }) => {
  // registration answers 202 whether or not the e-mail is taken (it tells no one who has an account)
  const reg = await page.request.post(`${base()}/api/v1/auth/register`, { data: { ...viewer, workspace_name: 'Viewer home' } });
  expect(reg.status()).toBe(202);
  await signIn(page, owner);
  // adding a member answers 202 the same for known and unknown e-mails; the list shows who was added
  const added = await call(page, 'POST', `/api/v1/workspaces/${wid}/members`, { email: viewer.email, role: 'viewer' });
  expect(added.status).toBe(202);
  const members = await call(page, 'GET', `/api/v1/workspaces/${wid}/members`);
  expect(members.body.map((m: { email: string; role: string }) => [m.email, m.role])).toContainEqual([viewer.email, 'viewer']);
  const ctx = await browser.newContext();
  const vp = await ctx.newPage();
  await signIn(vp, viewer);
  await vp.goto(`${base()}/w/${wid}/calendar`);
  await expect(vp.getByRole('heading', { name: 'Calendar' })).toBeVisible();
  await expect(vp.locator('.fc')).toBeVisible();
  await expect(vp.getByRole('link', { name: 'Compose' })).toHaveCount(0);
  await expect(vp.getByRole('button', { name: /Compose/ })).toHaveCount(0);
  await vp.goto(`${base()}/w/${wid}/accounts`);
  await expect(vp.getByRole('button', { name: /Connect|Disconnect|Reconnect/ })).toHaveCount(0);
  await ctx.close();
});

test('AI assist drafts from a brief and names provider, model and cost; media upload with progress', async ({ page }) => {
  await signIn(page, owner);
  await page.goto(`${base()}/w/${wid}/compose`);
  await page.getByRole('checkbox', { name: /ClientNest Sandbox/ }).check();
  await page.getByText('AI assist').click();
  await page.getByLabel('Brief').fill('Announce our spring sale: 20% off all jackets this weekend');
  await page.getByRole('button', { name: 'Draft from brief' }).click();
  await expect(page.getByTestId('ai-provenance')).toContainText(/\$\d+\.\d{4}/);
  await page.getByRole('button', { name: 'Use this draft' }).first().click();
  await expect(page.getByLabel('Text', { exact: true })).not.toHaveValue('');
  // media upload with a progress bar, then saved as a draft with the image
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await page.locator('input[type=file]').setInputFiles({ name: 'pixel.png', mimeType: 'image/png', buffer: png });
  await expect(page.getByLabel('Upload of pixel.png')).toHaveAttribute('value', '1');
  await expect(page.locator('.media-list img')).toHaveCount(1);
  await page.getByLabel('Save as draft').check();
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.getByRole('status')).toContainText('Saved post');
  const id = Number((await page.getByRole('status').textContent())!.match(/Saved post (\d+)/)![1]);
  const stored = await call(page, 'GET', `/api/v1/workspaces/${wid}/posts/${id}`);
  expect(stored.body.media_ids).toHaveLength(1);
  expect(stored.body.status).toBe('draft');
});

test('every page fits a 375 px wide screen', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await ctx.newPage();
  await signIn(page, owner);
  for (const p of ['calendar', 'compose', 'inbox', 'analytics', 'accounts', 'settings']) {
    await page.goto(`${base()}/w/${wid}/${p}`);
    await expect(page.locator('main h1').first()).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${p} scrolls sideways at 375 px`).toBeLessThanOrEqual(1);
  }
  await ctx.close();
});
