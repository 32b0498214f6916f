import { describe, expect, it } from 'vitest';
import { applyTargetEvent, derivePostStatus } from './live';
import { csrfHeaders, readCookie } from './api/client';
import type { Post } from './api/client';

const post = {
  id: 7, status: 'scheduled', scheduled_at: '2026-12-02T12:00:00Z', text: 'hi',
  targets: [
    { id: 70, account_id: 1, platform: 'twitter', status: 'scheduled', last_error: null, published_at: null, external_url: null },
    { id: 71, account_id: 2, platform: 'linkedin', status: 'scheduled', last_error: null, published_at: null, external_url: null },
  ],
} as unknown as Post;

describe('live events', () => {
  it('a target event changes that target and the post status', () => {
    const a = applyTargetEvent(post, { post_id: 7, target_id: 70, account_id: 1, status: 'published', published_at: '2026-12-02T12:00:01Z', url: 'https://x.com/i/1' });
    expect(a.targets[0]).toMatchObject({ status: 'published', external_url: 'https://x.com/i/1' });
    expect(a.targets[1].status).toBe('scheduled');
    const b = applyTargetEvent(a, { post_id: 7, target_id: 71, account_id: 2, status: 'failed', error: { message: 'duplicate' } });
    expect(b.targets[1].last_error).toEqual({ message: 'duplicate' });
    expect(b.status).toBe('partially_published');
  });
  it('leaves other posts alone', () => {
    expect(applyTargetEvent(post, { post_id: 8, target_id: 80, account_id: 1, status: 'published' })).toBe(post);
  });
  it('derives the post status from its targets', () => {
    const t = (status: string) => ({ status }) as Post['targets'][number];
    expect(derivePostStatus([t('published'), t('published')], 'publishing')).toBe('published');
    expect(derivePostStatus([t('failed')], 'scheduled')).toBe('failed');
    expect(derivePostStatus([t('publishing'), t('scheduled')], 'scheduled')).toBe('publishing');
  });
});

describe('CSRF', () => {
  it('reads the csrf cookie and sends it on unsafe requests only', () => {
    document.cookie = 'clientnest_csrf=abc%3D123; path=/';
    expect(readCookie('clientnest_csrf')).toBe('abc=123');
    expect(csrfHeaders('POST')).toEqual({ 'X-CSRF-Token': 'abc=123' });
    expect(csrfHeaders('delete')).toEqual({ 'X-CSRF-Token': 'abc=123' });
    expect(csrfHeaders('GET')).toEqual({});
  });
});
