// Starts the embedded server (../.venv/bin/clientnest run) on a free port with a temporary
// data dir, serving the freshly built web/dist; its address goes to the tests as E2E_BASE_URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(web, '..');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitFor(url: string, child: ChildProcess, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the server did not answer ${url} within ${ms} ms`);
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (process.env.E2E_BASE_URL) {
    process.env.E2E_STATE_FILE ??= join(mkdtempSync(join(tmpdir(), 'clientnest-e2e-')), 'e2e-state.json');
    return async () => {};
  }
  const exe = process.env.CLIENTNEST_BIN ?? join(repo, '.venv/bin/clientnest');
  if (!existsSync(exe)) throw new Error(`${exe} not found: run 'make install' in the repository root first`);
  if (!existsSync(join(web, 'dist/index.html'))) throw new Error('web/dist is missing: npm run build first');
  const dataDir = mkdtempSync(join(tmpdir(), 'clientnest-e2e-'));
  const port = await freePort();
  const child = spawn(exe, ['run', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: repo,
    env: {
      ...process.env,
      CLIENTNEST_DATA_DIR: dataDir,
      PYTHONUNBUFFERED: '1', // the demo login line is read from stdout
      CLIENTNEST_WEB_DIST_DIR: join(web, 'dist'),
      // follow-ups within seconds, so that comments and metrics arrive during the run
      CLIENTNEST_COMMENT_POLL_FAST_MINUTES: '0.05',
      CLIENTNEST_METRICS_SCHEDULE_HOURS: '0.001,0.002,24',
      CLIENTNEST_DISPATCH_INTERVAL_SECONDS: '0.5',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${base}/healthz`, child, 60_000);
  } catch (e) {
    child.kill('SIGTERM');
    console.error(log);
    throw e;
  }
  process.env.E2E_BASE_URL = base;
  // the demo login `clientnest run` prints once (its workspace has 90 days of seeded history)
  const demo = /Demo login:\s+(\S+) \/ (\S+)/.exec(log);
  if (demo) [process.env.E2E_DEMO_EMAIL, process.env.E2E_DEMO_PASSWORD] = [demo[1], demo[2]];
  process.env.E2E_STATE_FILE = join(dataDir, 'e2e-state.json');
  return async () => {
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    if (child.exitCode === null) child.kill('SIGKILL');
    if (process.env.E2E_KEEP_LOG) console.log(log);
    rmSync(dataDir, { recursive: true, force: true });
  };
}
