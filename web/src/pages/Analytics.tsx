import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { fetchRecentPosts } from '../data';
import { useWorkspace } from '../workspace';
import { formatInZone } from '../lib/time';
import { EChart } from '../components/EChart';
import { ErrorBox } from '../components/ErrorText';

type PostMetrics = Schemas['PostMetrics'];
type Values = Schemas['MetricValues'];
const SHOWN: (keyof Values)[] = ['impressions', 'likes', 'comments', 'shares', 'clicks'];

export default function AnalyticsPage() {
  const { wid, tz } = useWorkspace();
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
