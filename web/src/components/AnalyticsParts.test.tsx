import '@testing-library/jest-dom/vitest';
import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';

// ECharts draws on a canvas jsdom lacks: the wrapper is replaced by what it is given.
vi.mock('./EChart', () => ({
  EChart: ({ option, label }: { option: { series: { type: string; data: unknown[] }[] }; label: string }) => (
    <div data-testid="chart" aria-label={label} data-type={option.series[0].type} data-cells={option.series[0].data.length} />
  ),
}));

import { BestTimesView, SummaryCards, formatChange, formatFigure, type BestTimesJson, type HeatCell, type SummaryJson } from './AnalyticsParts';

const period = { from: '2026-11-03', to: '2026-12-02', days: 30, time_zone: 'Europe/Paris' };
const previous = { from: '2026-10-04', to: '2026-11-02', days: 30, time_zone: 'Europe/Paris' };
const summary: SummaryJson = {
  period,
  previous_period: previous,
  posts: {
    posts: { value: 12, previous: 10, absolute: 2, relative: 0.2 },
    impressions: { value: 4500, previous: null, absolute: null, relative: null },
    reach: { value: null, previous: null, absolute: null, relative: null },
    engagements: { value: 0, previous: 5, absolute: -5, relative: -1 },
    engagement_rate: { value: 0.0421, previous: 0.04, absolute: 0.0021, relative: 0.0525 },
    clicks: { value: null, previous: 3, absolute: null, relative: null },
  },
  account: {
    followers: { value: 1500, previous: 1400, absolute: 100, relative: 0.0714 },
  },
};

describe('SummaryCards', () => {
  it('names the period and time zone, shows a missing figure as — and a real 0 as 0', () => {
    render(<SummaryCards summary={summary} />);
    expect(screen.getByTestId('summary-period')).toHaveTextContent('2026-11-03 to 2026-12-02 (30 days, Europe/Paris)');
    expect(screen.getByTestId('summary-period')).toHaveTextContent('compared with 2026-10-04 to 2026-11-02');
    const reach = screen.getByTestId('card-Post reach');
    expect(within(reach).getByText('—')).toBeInTheDocument();
    expect(reach).not.toHaveTextContent(/\b0\b/);
    expect(screen.getByTestId('card-Clicks')).toHaveTextContent('—');
    expect(screen.getByTestId('card-Profile views')).toHaveTextContent('—'); // not in the response at all
    expect(screen.getByTestId('card-Engagements')).toHaveTextContent(/^Engagements0−5 \(−100 %\)/);
    expect(screen.getByTestId('card-Posts published')).toHaveTextContent('+2 (+20 %) vs previous period');
    expect(screen.getByTestId('card-Post impressions')).toHaveTextContent('4,500— vs previous period');
    expect(screen.getByTestId('card-Engagement rate')).toHaveTextContent('4.21 %');
  });

  it('formats figures', () => {
    expect(formatFigure('likes', null)).toBe('—');
    expect(formatFigure('likes', 0)).toBe('0');
    expect(formatChange('likes', undefined)).toBe('— vs previous period');
  });
});

describe('BestTimesView', () => {
  const cells = Array.from({ length: 7 }, () => Array.from({ length: 24 }, (): HeatCell => null));
  cells[1][9] = { posts: 6, median_rate: 0.05, shrunk_rate: 0.048 };
  const history: BestTimesJson = {
    source: 'account_history', time_zone: 'Europe/Paris', posts_with_rate: 40, min_posts: 10, account_median_rate: 0.03,
    ranked: [{ weekday: 1, day: 'Tuesday', hour: 9, label: 'Tuesday 09:00', explanation: 'Tuesday 09:00: 5.0 % median engagement rate over 6 posts, account median 3.0 %' }],
    heatmap: { cells },
  };

  it('draws a weekday x hour heatmap and lists the ranked slots in words', () => {
    render(<BestTimesView data={history} accountName="Shop (twitter)" />);
    const chart = screen.getByTestId('chart');
    expect(chart).toHaveAttribute('data-type', 'heatmap');
    expect(chart).toHaveAttribute('data-cells', String(7 * 24));
    expect(chart.getAttribute('aria-label')).toContain('Europe/Paris');
    expect(screen.getByTestId('ranked')).toHaveTextContent('Tuesday 09:00: 5.0 % median engagement rate over 6 posts');
    expect(screen.getByTestId('best-source')).toHaveTextContent('40 posts with an engagement rate');
  });

  it('says when the times are platform defaults and draws no heatmap', () => {
    render(<BestTimesView data={{ source: 'platform_default', posts_with_rate: 2, min_posts: 10, ranked: [{ weekday: 2, hour: 12, explanation: 'Wednesday 12:00: a general default for this platform' }], heatmap: { cells: [] } }} accountName="New" />);
    expect(screen.queryByTestId('chart')).toBeNull();
    expect(screen.getByTestId('best-source')).toHaveTextContent('Not enough history for New (2 of 10 posts needed)');
    expect(screen.getByTestId('ranked')).toHaveTextContent('a general default');
  });
});
