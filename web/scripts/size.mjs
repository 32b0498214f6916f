// The first page's JavaScript, gzipped: the entry chunk and every chunk it imports statically
// (what index.html loads before anything is lazy-loaded). Fails above the budget (250 kB).
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../dist');
const BUDGET = Number(process.env.FIRST_PAGE_BUDGET_KB ?? 250) * 1000;
if (!existsSync(join(dist, 'index.html'))) {
  console.error('web/dist is missing: npm run build first');
  process.exit(2);
}
const html = readFileSync(join(dist, 'index.html'), 'utf8');

/** The files and their static imports (import ... from "./x.js"; dynamic import() is lazy). */
function closure(roots) {
  const seen = new Set();
  const queue = [...roots];
  while (queue.length) {
    const f = queue.shift();
    if (seen.has(f)) continue;
    seen.add(f);
    const code = readFileSync(join(dist, f), 'utf8');
    for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w*{}\s,$]+from\s*)?["'`]\.\/([^"'`]+\.js)["'`]/g)) queue.push(join(dirname(f), m[1]));
  }
  return seen;
}
const gz = (f) => gzipSync(readFileSync(join(dist, f))).length;
const kb = (n) => `${(n / 1000).toFixed(1).padStart(8)} kB`;

const entry = closure([...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="\/([^"]+\.js)"/g)].map((m) => m[1]));
const entryCode = [...entry].map((f) => readFileSync(join(dist, f), 'utf8')).join('\n');
const calendarChunk = entryCode.match(/["'`]\.\/(Calendar-[\w-]+\.js)["'`]/)?.[1];
const calendar = calendarChunk ? closure(['assets/' + calendarChunk]) : new Set();
let first = 0;
for (const f of entry) { first += gz(f); console.log(`${kb(gz(f))}  ${f}`); }
console.log(`${kb(first)}  first page (sign-in) JavaScript, gzipped`);
let cal = 0;
for (const f of calendar) if (!entry.has(f)) { cal += gz(f); console.log(`${kb(gz(f))}  ${f}`); }
console.log(`${kb(first + cal)}  sign-in to calendar shown: all JavaScript, gzipped (budget ${BUDGET / 1000} kB)`);
process.exit(first + cal > BUDGET ? 1 : 0);
