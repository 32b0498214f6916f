import { describe, expect, it } from 'vitest';
import { applyDelta, toCalendarEvents, wallStart } from './calendar';
import { slotInstants, wallToIso } from './time';
import type { Post } from '../api/client';

const post = (id: number, scheduled_at: string, status: Post['status'] = 'scheduled'): Post =>
  ({
    id, workspace_id: 1, status, text: `post ${id}`, link: null, thread: [], first_comment: null, media_ids: [], scheduled_at,
    created_by: 1, created_at: scheduled_at, updated_at: scheduled_at,
    targets: [{ id: id * 10, account_id: 1, platform: 'twitter', status: status === 'published' ? 'published' : 'scheduled', text: '', text_override: null, scheduled_at, next_attempt_at: null, attempts: 0, external_id: null, external_url: null, published_at: null, last_error: null, updated_at: scheduled_at }],
  }) as unknown as Post;

describe('time-zone placement', () => {
  it('places a post on its day in the workspace zone, not UTC', () => {
    // 23:30 UTC on 14 Jan is 10:30 on 15 Jan in Sydney
    expect(wallStart('2026-01-14T23:30:00Z', 'Australia/Sydney')).toBe('2026-01-15T10:30:00');
    expect(wallStart('2026-01-15T03:00:00Z', 'America/Los_Angeles')).toBe('2026-01-14T19:00:00');
  });
  it('handles the spring-forward day (Europe/Paris, 29 March 2026)', () => {
    expect(wallStart('2026-03-29T00:30:00Z', 'Europe/Paris')).toBe('2026-03-29T01:30:00');
    expect(wallStart('2026-03-29T01:30:00Z', 'Europe/Paris')).toBe('2026-03-29T03:30:00');
    expect(wallToIso('2026-03-29T09:00', 'Europe/Paris')).toBe('2026-03-29T09:00:00+02:00');
    expect(wallToIso('2026-03-28T09:00', 'Europe/Paris')).toBe('2026-03-28T09:00:00+01:00');
  });
  it('handles the fall-back day (America/New_York, 1 November 2026)', () => {
    expect(wallStart('2026-11-01T05:30:00Z', 'America/New_York')).toBe('2026-11-01T01:30:00');
    expect(wallStart('2026-11-01T06:30:00Z', 'America/New_York')).toBe('2026-11-01T01:30:00');
    expect(wallStart('2026-11-01T14:00:00Z', 'America/New_York')).toBe('2026-11-01T09:00:00');
  });
  it('builds calendar events with wall-clock starts and status classes', () => {
    const evs = toCalendarEvents([post(1, '2026-03-29T07:00:00Z'), post(2, '2026-03-28T08:00:00Z', 'published')], 'Europe/Paris', []);
    expect(evs.map((e) => e.start)).toEqual(['2026-03-29T09:00:00', '2026-03-28T09:00:00']);
    expect(evs[0].classNames).toContain('status-scheduled');
    expect(evs[0].editable).toBe(true);
    expect(evs[1].editable).toBe(false);
  });
  it('a drag by one day across DST keeps the wall-clock time', () => {
    // 09:00 Paris on Saturday 28 March (UTC+1) -> 09:00 Paris on Sunday 29 March (UTC+2)
    expect(applyDelta('2026-03-28T08:00:00Z', { days: 1, milliseconds: 0 }, 'Europe/Paris')).toBe('2026-03-29T07:00:00Z');
    expect(applyDelta('2026-10-31T13:00:00Z', { days: 1 }, 'America/New_York')).toBe('2026-11-01T14:00:00Z');
  });
  it('posting slots keep their wall-clock time across DST', () => {
    // Saturday=5, Sunday=6, 09:00 Paris
    const at = slotInstants([{ weekday: 5, time: '09:00' }, { weekday: 6, time: '09:00' }], '2026-03-28T00:00:00Z', '2026-03-30T00:00:00Z', 'Europe/Paris');
    expect(at).toEqual(['2026-03-28T08:00:00Z', '2026-03-29T07:00:00Z']);
  });
});
