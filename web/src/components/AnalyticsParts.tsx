// Presentational parts of the Analytics page, fed with the API's JSON as it comes
// (docs/analytics.md): summary cards and the best-time heatmap with its ranked slots.
import { useMemo } from 'react';
import { EChart } from './EChart';

export type PeriodJson = { from?: string; to?: string; days?: number; time_zone?: string };
export type Figure = { value: number | null; previous: number | null; absolute: number | null; relative: number | null };
export type SummaryJson = {
  period?: PeriodJson;
  previous_period?: PeriodJson;
  posts?: Record<string, Figure | undefined>;
  account?: Record<string, Figure | undefined>;
};

export const MISSING = '—';

const RATE = new Set(['engagement_rate']);
const nf = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

/** A figure in words: a missing one (null: the platform gives none, or no data) is "—", never 0. */
export function formatFigure(name: string, v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return MISSING;
  return RATE.has(name) ? `${(v * 100).toFixed(2)} %` : nf.format(v);
}

export function formatChange(name: string, f: Figure | undefined): string {
  if (!f || f.absolute === null || f.absolute === undefined) return `${MISSING} vs previous period`;
  const sign = f.absolute > 0 ? '+' : f.absolute < 0 ? '−' : '±';
  const abs = RATE.has(name) ? `${(Math.abs(f.absolute) * 100).toFixed(2)} pts` : nf.format(Math.abs(f.absolute));
  const rel = f.relative === null || f.relative === undefined ? '' : ` (${sign}${nf.format(Math.abs(f.relative) * 100)} %)`;
  return `${sign}${abs}${rel} vs previous period`;
}

export function periodWords(p: PeriodJson | undefined): string {
  if (!p) return '';
  return `${p.from ?? '?'} to ${p.to ?? '?'} (${p.days ?? '?'} days, ${p.time_zone ?? 'workspace time zone'})`;
}

const POST_CARDS: [string, string][] = [
  ['posts', 'Posts published'],
  ['impressions', 'Post impressions'],
  ['reach', 'Post reach'],
  ['engagements', 'Engagements'],
  ['engagement_rate', 'Engagement rate'],
  ['clicks', 'Clicks'],
];
const ACCOUNT_CARDS: [string, string][] = [
  ['followers', 'Followers'],
  ['impressions', 'Account impressions'],
  ['profile_views', 'Profile views'],
];

function Card({ name, label, fig }: { name: string; label: string; fig: Figure | undefined }) {
  return (
    <div className="card stat" data-testid={`card-${label}`}>
      <div className="muted">{label}</div>
      <div className="stat-value">{formatFigure(name, fig?.value)}</div>
      <div className="muted small">{formatChange(name, fig)}</div>
    </div>
  );
}

export function SummaryCards({ summary }: { summary: SummaryJson }) {
  return (
    <section aria-labelledby="summary-h">
      <h2 id="summary-h">Summary</h2>
      <p className="muted" data-testid="summary-period">
        Figures for {periodWords(summary.period)}, compared with {periodWords(summary.previous_period)}. Posts count when published in the period.
      </p>
      <div className="cards">
        {POST_CARDS.map(([k, l]) => <Card key={`p-${k}`} name={k} label={l} fig={summary.posts?.[k]} />)}
        {ACCOUNT_CARDS.map(([k, l]) => <Card key={`a-${k}`} name={k} label={l} fig={summary.account?.[k]} />)}
      </div>
    </section>
  );
}

export type Ranked = { weekday: number; day?: string; hour: number; label?: string; explanation?: string; posts?: number; median_rate?: number };
export type HeatCell = { posts: number; median_rate: number; shrunk_rate: number } | null;
export type BestTimesJson = {
  source?: string;
  time_zone?: string;
  posts_with_rate?: number;
  min_posts?: number;
  account_median_rate?: number | null;
  ranked?: Ranked[];
  heatmap?: { cells?: HeatCell[][] };
};

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const HOURS = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`);

export function BestTimesView({ data, accountName }: { data: BestTimesJson; accountName: string }) {
  const fromHistory = data.source === 'account_history';
  const option = useMemo(() => {
    const cells: [number, number, number | string][] = [];
    const rows = data.heatmap?.cells ?? [];
    let max = 0;
    for (let w = 0; w < 7; w++) {
      for (let h = 0; h < 24; h++) {
        const c = rows[w]?.[h] ?? null;
        if (c) max = Math.max(max, c.shrunk_rate);
        cells.push([h, 6 - w, c ? Number((c.shrunk_rate * 100).toFixed(2)) : '-']);
      }
    }
    return {
      tooltip: { position: 'top' },
      grid: { left: 90, right: 16, top: 10, bottom: 80 },
      xAxis: { type: 'category', data: HOURS, splitArea: { show: true } },
      yAxis: { type: 'category', data: [...DAYS].reverse(), splitArea: { show: true } },
      visualMap: { min: 0, max: Math.max(0.01, Number((max * 100).toFixed(2))), calculable: true, orient: 'horizontal', left: 'center', bottom: 0, text: ['higher %', 'lower'] },
      series: [{ name: 'Engagement rate (%)', type: 'heatmap', data: cells, emphasis: { itemStyle: { borderColor: '#333', borderWidth: 1 } } }],
    };
  }, [data]);
  return (
    <div data-testid="best-times">
      <p className="muted" data-testid="best-source">
        {fromHistory
          ? `From ${accountName}'s own history: ${data.posts_with_rate ?? MISSING} posts with an engagement rate; weekday and hour in ${data.time_zone ?? 'the workspace time zone'}. Account median engagement rate ${formatFigure('engagement_rate', data.account_median_rate ?? null)}.`
          : `Not enough history for ${accountName} (${data.posts_with_rate ?? 0} of ${data.min_posts ?? '?'} posts needed): general platform defaults, not this account's data.`}
      </p>
      {fromHistory && (
        <EChart option={option} height={320} label={`Heatmap of ${accountName}'s engagement rate by weekday and hour (${data.time_zone ?? ''})`} />
      )}
      <h3>Best times, ranked</h3>
      {(data.ranked ?? []).length === 0 ? (
        <p>No ranked times.</p>
      ) : (
        <ol data-testid="ranked">
          {(data.ranked ?? []).map((r) => (
            <li key={`${r.weekday}-${r.hour}`}>
              {r.explanation ?? r.label ?? `${DAYS[r.weekday]} ${HOURS[r.hour]}`}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
