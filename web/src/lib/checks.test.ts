import { describe, expect, it } from 'vitest';
import { checkContent, platformLength } from './checks';

const X = { max_length: 280, max_thread: 24, max_media: 4, max_images: 4, max_videos: 1, first_comment: false, mixed_media: false };
const IG = { max_length: 2200, requires_media: true, max_hashtags: 30, first_comment: true };
const LI = { max_length: 3000, first_comment: true };

describe('X weighted length', () => {
  it('counts plain text as characters', () => {
    expect(platformLength('twitter', 'hello')).toBe(5);
  });
  it('counts any URL as 23', () => {
    const url = 'https://example.com/a/very/long/path/that/is/much/longer/than/twenty/three/characters';
    expect(platformLength('twitter', `see ${url}`)).toBe(4 + 23);
  });
  it('counts CJK and emoji as 2', () => {
    expect(platformLength('twitter', '日本')).toBe(4);
    expect(platformLength('twitter', '🙂')).toBe(2);
  });
  it('accepts 280 and refuses 281', () => {
    expect(checkContent('twitter', X, { text: 'a'.repeat(280) }).ok).toBe(true);
    const r = checkContent('twitter', X, { text: 'a'.repeat(281) });
    expect(r.ok).toBe(false);
    expect(r.length).toBe(281);
    expect(r.problems[0]).toMatch(/281 characters: the limit is 280 \(1 too many\)/);
  });
  it('a long URL keeps a post under the limit', () => {
    const text = 'a'.repeat(250) + ' https://example.com/' + 'x'.repeat(100);
    expect(checkContent('twitter', X, { text }).length).toBe(250 + 1 + 23);
    expect(checkContent('twitter', X, { text }).ok).toBe(true);
  });
  it('counts an appended link as a space and 23', () => {
    expect(checkContent('twitter', X, { text: 'hi', link: 'https://example.com/long' }).length).toBe(2 + 24);
  });
  it('checks each thread post', () => {
    const r = checkContent('twitter', X, { text: 'one', thread: ['two', 'b'.repeat(300)] });
    expect(r.problems.join()).toMatch(/Thread post 3: 300 characters/);
  });
  it('has no first comment', () => {
    expect(checkContent('twitter', X, { text: 'x', firstComment: 'more' }).problems).toContain('A first comment is not supported here');
  });
});

describe('Instagram', () => {
  it('needs media', () => {
    const r = checkContent('instagram', IG, { text: 'a caption' });
    expect(r.ok).toBe(false);
    expect(r.problems).toContain('Needs a photo or video');
  });
  it('is fine with an image', () => {
    expect(checkContent('instagram', IG, { text: 'a caption', media: [{ kind: 'image', content_type: 'image/jpeg' }] }).ok).toBe(true);
  });
  it('counts hashtags', () => {
    const text = Array.from({ length: 31 }, (_, i) => `#tag${i}`).join(' ');
    expect(checkContent('instagram', IG, { text, media: [{ kind: 'image', content_type: 'image/jpeg' }] }).problems.join()).toMatch(/31 hashtags: at most 30/);
  });
});

describe('LinkedIn', () => {
  it('allows 3,000 characters, not 3,001', () => {
    expect(checkContent('linkedin', LI, { text: 'a'.repeat(3000) }).ok).toBe(true);
    const r = checkContent('linkedin', LI, { text: 'a'.repeat(3001) });
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/3,001 characters: the limit is 3,000/);
  });
  it('counts URLs as their characters', () => {
    expect(platformLength('linkedin', 'https://example.com')).toBe(19);
  });
});
