import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { fetchRecentPosts, useAccounts } from '../data';
import { useWorkspace } from '../workspace';
import { formatInZone } from '../lib/time';
import { EChart } from '../components/EChart';
import { ErrorBox } from '../components/ErrorText';
import { BestTimesView, SummaryCards, formatFigure, periodWords, type BestTimesJson, type PeriodJson, type SummaryJson } from '../components/AnalyticsParts';

import { DateTime } from 'luxon';

type PostMetrics = Schemas['PostMetrics'];
type Values = Schemas['MetricValues'];
const SHOWN: (keyof Values)[] = ['impressions', 'likes', 'comments', 'shares', 'clicks'];

const SERIES = ['impressions', 'reach', 'likes', 'comments', 'shares', 'clicks', 'engagements', 'engagement_rate', 'posts', 'followers', 'profile_views'] as const;
type SeriesMetric = (typeof SERIES)[number];
type Point = { from?: string; to?: string; value?: number | null };
type TopPost = { post_id?: number; target_id?: number; account_name?: string; platform?: string; text?: string; link?: string | null; published_at?: string; value?: number | null };

/** The first and last day (inclusive) of the last n days in the workspace's zone. */
function lastDays(n: number, tz: string): { from: string; to: string } {
  const today = DateTime.now().setZone(tz).startOf('day');
  return { from: today.minus({ days: n - 1 }).toISODate()!, to: today.toISODate()! };
}

export default function AnalyticsPage() {
  const { wid, tz } = useWorkspace();
  const accounts = useAccounts(wid);
  const [days, setDays] = useState(30);
  const [accountId, setAccountId] = useState<number | ''>('');
  const [platform, setPlatform] = useState('');
  const [metric, setMetric] = useState<SeriesMetric>('impressions');
  const [interval, setBucket] = useState<'day' | 'week'>('day');
  const [heatAccount, setHeatAccount] = useState<number | ''>('');
  const range = lastDays(days, tz);
  const filters = {
    ...range,
    ...(accountId !== '' ? { account_id: accountId } : {}),
    ...(platform ? { platform } : {}),
  };
  const platforms = [...new Set((accounts.data ?? []).map((a) => a.platform).filter(Boolean) as string[])].sort();
  const summary = useQuery({
    queryKey: ['analytics', wid, 'summary', filters],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/analytics/summary', { params: { path: { wid }, query: filters } })) as Promise<SummaryJson>,
  });
  const series = useQuery({
    queryKey: ['analytics', wid, 'timeseries', filters, metric, interval],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/analytics/timeseries', { params: { path: { wid }, query: { ...filters, metric, interval } } })),
  });
  const top = useQuery({
    queryKey: ['analytics', wid, 'top', filters],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/analytics/top-posts', { params: { path: { wid }, query: { ...filters, metric: 'engagements', limit: 10 } } })),
  });
  const heatId = heatAccount !== '' ? heatAccount : accountId !== '' ? accountId : (accounts.data ?? [])[0]?.id;
  const heatName = (() => {
    const a = (accounts.data ?? []).find((x) => x.id === heatId);
    return a ? `${a.display_name || a.username} (${a.platform})` : `account ${heatId}`;
  })();
  const best = useQuery({
    queryKey: ['analytics', wid, 'best-times', heatId],
    enabled: heatId !== undefined,
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/accounts/{aid}/best-times', { params: { path: { wid, aid: heatId! }, query: { limit: 5 } } })) as Promise<BestTimesJson>,
  });
  const points = (series.data?.points ?? []) as Point[];
  const seriesOption = useMemo(
    () => ({
      tooltip: { trigger: 'axis' },
      grid: { left: 56, right: 16, bottom: 40, top: 24 },
      xAxis: { type: 'category', data: points.map((p) => (p.from === p.to ? p.from : `${p.from} – ${p.to}`)) },
      yAxis: { type: 'value' },
      series: [{ name: metric, type: interval === 'day' ? 'line' : 'bar', connectNulls: false, data: points.map((p) => (p.value === null || p.value === undefined ? '-' : p.value)) }],
    }),
    [points, metric, interval],
  );
  const exportQuery = new URLSearchParams(Object.entries(filters).map(([k, v]) => [k, String(v)]));
  const exportHref = `/api/v1/workspaces/${wid}/analytics/export.csv?${exportQuery}`;
  const topPosts = (top.data?.posts ?? []) as TopPost[];
  const posts = useQuery({
    queryKey: ['posts', wid, 'recent'],
    queryFn: () => fetchRecentPosts(wid, 2),
  });
  const published = useMemo(
    () => (posts.data ?? []).filter((p) => p.targets.some((t) => t.status === 'published')).slice(0, 20),
    [posts.data],
  );
  const metrics = useQuery({
    queryKey: ['metrics', wid, published.map((p) => p.id)],
    enabled: published.length > 0,
    queryFn: async () =>
      Promise.all(
        published.map((p) => unwrap(api.GET('/api/v1/workspaces/{wid}/posts/{pid}/metrics', { params: { path: { wid, pid: p.id } } })) as Promise<PostMetrics>),
      ),
    refetchInterval: 30_000,
  });
  const [chosen, setChosen] = useState<number | null>(null);
  const rows = metrics.data ?? [];
  const label = (id: number) => {
    const p = published.find((x) => x.id === id);
    const t = p?.text ?? '';
    return `#${id} ${t.slice(0, 18)}${t.length > 18 ? '…' : ''}`;
  };
  const barOption = useMemo(
    () => ({
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 48, right: 16, bottom: 64, top: 40 },
      xAxis: { type: 'category', data: rows.map((r) => label(r.post_id)), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value' },
      series: SHOWN.map((k) => ({ name: k, type: 'bar', data: rows.map((r) => (r.totals as Values | null)?.[k] ?? 0) })),
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [rows],
  );
  const detail = rows.find((r) => r.post_id === chosen) ?? rows[0];
  const lineOption = useMemo(() => {
    if (!detail) return null;
    const snaps = detail.targets.flatMap((t) => t.history.map((h) => ({ at: h.fetched_at, m: h.metrics as Values | null })));
    snaps.sort((a, b) => (a.at ?? '').localeCompare(b.at ?? ''));
    return {
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 48, right: 16, bottom: 40, top: 40 },
      xAxis: { type: 'category', data: snaps.map((s) => formatInZone(s.at ?? '', tz)) },
      yAxis: { type: 'value' },
      series: SHOWN.map((k) => ({ name: k, type: 'line', data: snaps.map((s) => s.m?.[k] ?? 0) })),
    };
  }, [detail, tz]);

  return (
    <div>
      <h1>Analytics</h1>
      <div className="filters">
        <label>
          Period
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>Last 7 days</option>
            <option value={30}>Last 30 days</option>
            <option value={90}>Last 90 days</option>
          </select>
        </label>
        <label>
          Account
          <select value={accountId} onChange={(e) => setAccountId(e.target.value ? Number(e.target.value) : '')}>
            <option value="">All accounts</option>
            {(accounts.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.display_name || a.username} ({a.platform})</option>)}
          </select>
        </label>
        <label>
          Platform
          <select value={platform} onChange={(e) => setPlatform(e.target.value)}>
            <option value="">All platforms</option>
            {platforms.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        </label>
        <a className="button" href={exportHref} download>Export CSV</a>
      </div>
      <ErrorBox error={accounts.error} title="Could not load accounts" />
      <ErrorBox error={summary.error} title="Could not load the summary" />
      {summary.isLoading && <p>Loading summary…</p>}
      {summary.data && <SummaryCards summary={summary.data} />}

      <h2>Over time</h2>
      <div className="filters">
        <label>
          Metric
          <select value={metric} onChange={(e) => setMetric(e.target.value as SeriesMetric)}>
            {SERIES.map((m) => <option key={m} value={m}>{m.replace(/_/g, ' ')}</option>)}
          </select>
        </label>
        <label>
          By
          <select value={interval} onChange={(e) => setBucket(e.target.value as 'day' | 'week')}>
            <option value="day">Day</option>
            <option value="week">Week</option>
          </select>
        </label>
      </div>
      <ErrorBox error={series.error} title="Could not load the time series" />
      {series.data && (
        <>
          <p className="muted small">{metric.replace(/_/g, ' ')} by {interval}, {periodWords(series.data.period as PeriodJson)}; a gap is a missing figure, not 0.</p>
          <EChart option={seriesOption} height={280} label={`Chart of ${metric} by ${interval}`} />
        </>
      )}

      <h2>Top posts</h2>
      <ErrorBox error={top.error} title="Could not load top posts" />
      {top.data && topPosts.length === 0 && <p>No posts with figures published in this period.</p>}
      {topPosts.length > 0 && (
        <table className="table" data-testid="top-posts">
          <caption className="sr-only">Top posts by engagements, {periodWords(top.data?.period as PeriodJson)}</caption>
          <thead>
            <tr><th scope="col">Post</th><th scope="col">Platform</th><th scope="col">Published</th><th scope="col">Engagements</th><th scope="col">Link</th></tr>
          </thead>
          <tbody>
            {topPosts.map((p) => (
              <tr key={p.target_id}>
                <td>{(p.text ?? '').slice(0, 80)}{(p.text ?? '').length > 80 ? '…' : ''}</td>
                <td>{p.platform}{p.account_name ? ` · ${p.account_name}` : ''}</td>
                <td>{p.published_at ? formatInZone(p.published_at, tz) : '—'}</td>
                <td>{formatFigure('engagements', p.value)}</td>
                <td>{p.link ? <a href={p.link} target="_blank" rel="noreferrer">Open</a> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Best times to post</h2>
      {(accounts.data ?? []).length > 0 && (
        <label>
          Account for best times
          <select value={heatId ?? ''} onChange={(e) => setHeatAccount(e.target.value ? Number(e.target.value) : '')}>
            {(accounts.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.display_name || a.username} ({a.platform})</option>)}
          </select>
        </label>
      )}
      {!accounts.isLoading && (accounts.data ?? []).length === 0 && <p>No accounts yet: best times need an account.</p>}
      <ErrorBox error={best.error} title="Could not load best times" />
      {best.data && <BestTimesView data={best.data} accountName={heatName} />}

      <h2>Latest published posts</h2>
      <p className="muted">Metrics of your latest published posts, collected at intervals after publishing.</p>
      <ErrorBox error={posts.error} title="Could not load posts" />
      <ErrorBox error={metrics.error} title="Could not load metrics" />
      {posts.isLoading || metrics.isLoading ? <p>Loading…</p> : null}
      {!posts.isLoading && published.length === 0 && <p>No published posts yet: metrics appear here once posts go out.</p>}
      {rows.length > 0 && (
        <>
          <h2>Totals per post</h2>
          <EChart option={barOption} label="Bar chart: impressions, likes, comments, shares and clicks per published post" />
          <h2>Over time</h2>
          <label>
            Post
            <select value={detail?.post_id ?? ''} onChange={(e) => setChosen(Number(e.target.value))}>
              {rows.map((r) => <option key={r.post_id} value={r.post_id}>{label(r.post_id)}</option>)}
            </select>
          </label>
          {lineOption && <EChart option={lineOption} height={260} label={`Line chart of the metrics of post ${detail?.post_id} over time`} />}
          <table className="table">
            <caption className="sr-only">Latest totals per post</caption>
            <thead>
              <tr><th scope="col">Post</th>{SHOWN.map((k) => <th key={k} scope="col">{k}</th>)}</tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.post_id}>
                  <th scope="row">{label(r.post_id)}</th>
                  {SHOWN.map((k) => <td key={k}>{(r.totals as Values | null)?.[k] ?? '–'}</td>)}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
