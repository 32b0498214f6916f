// Pure helpers behind the calendar page (tested without a browser).
import { DateTime } from 'luxon';
import type { Post, Account } from '../api/client';

export const STATUS_LABEL: Record<string, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  queued: 'Queued',
  publishing: 'Publishing',
  unknown: 'Checking',
  held: 'Needs attention',
  published: 'Published',
  partially_published: 'Partly published',
  failed: 'Failed',
  canceled: 'Canceled',
};

/** What the calendar shows for a post: failed targets and held ones (account needs reconnecting) need attention. */
export function displayStatus(post: Post): string {
  if (post.targets.some((t) => t.status === 'held')) return 'held';
  return post.status;
}

export interface Filters {
  accountId?: number | null;
  platform?: string | null;
  status?: string | null;
}

export function matches(post: Post, f: Filters): boolean {
  if (f.accountId && !post.targets.some((t) => t.account_id === f.accountId)) return false;
  if (f.platform && !post.targets.some((t) => t.platform === f.platform)) return false;
  if (f.status && displayStatus(post) !== f.status && !post.targets.some((t) => t.status === f.status)) return false;
  return true;
}

/** Wall-clock start in the zone, as FullCalendar takes it when its timeZone is that zone. */
export function wallStart(iso: string, zone: string): string {
  return DateTime.fromISO(iso).setZone(zone).toFormat("yyyy-LL-dd'T'HH:mm:ss");
}

export function isMovable(post: Post): boolean {
  return post.targets.length > 0 && post.targets.every((t) => ['draft', 'scheduled', 'held'].includes(t.status));
}

export interface CalEvent {
  id: string;
  title: string;
  start: string;
  editable: boolean;
  classNames: string[];
  extendedProps: { kind: 'post'; post: Post } | { kind: 'slot'; accountId: number; at: string };
}

export function postTitle(post: Post, accounts: Account[]): string {
  const names = post.targets.map((t) => {
    const a = accounts.find((x) => x.id === t.account_id);
    return a?.username ? '@' + a.username : a?.display_name ?? t.platform;
  });
  const text = post.text || post.targets.find((t) => t.text)?.text || '(media)';
  return `${text.slice(0, 60)}${text.length > 60 ? '…' : ''} · ${names.join(', ')}`;
}

export function toCalendarEvents(posts: Post[], zone: string, accounts: Account[], f: Filters = {}, canEdit = true): CalEvent[] {
  return posts
    .filter((p) => p.scheduled_at && matches(p, f))
    .map((p) => {
      const st = displayStatus(p);
      return {
        id: `post-${p.id}`,
        title: postTitle(p, accounts),
        start: wallStart(p.scheduled_at!, zone),
        editable: canEdit && isMovable(p),
        classNames: ['ev', `status-${st}`, ...Array.from(new Set(p.targets.map((t) => `platform-${t.platform}`)))],
        extendedProps: { kind: 'post' as const, post: p },
      };
    });
}

/** The new time of a post dragged by FullCalendar's delta, applied in the workspace zone
 * (a day moved across a DST change keeps its wall-clock time). */
export function applyDelta(iso: string, delta: { years?: number; months?: number; days?: number; milliseconds?: number }, zone: string): string {
  return DateTime.fromISO(iso)
    .setZone(zone)
    .plus({ years: delta.years ?? 0, months: delta.months ?? 0, days: delta.days ?? 0 })
    .plus({ milliseconds: delta.milliseconds ?? 0 })
    .toUTC()
    .toISO({ suppressMilliseconds: true })!;
}
