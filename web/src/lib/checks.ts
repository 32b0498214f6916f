// Per-platform counters and checks, from the rules GET /api/v1/platforms returns.
// X counts a weighted length (twitter-text: URLs 23, CJK and emoji 2).
import twitterText from 'twitter-text';

export interface Rules {
  max_length?: number | null;
  requires_media?: boolean;
  max_media?: number | null;
  max_images?: number | null;
  max_videos?: number | null;
  max_thread?: number | null;
  max_hashtags?: number | null;
  first_comment?: boolean;
  mixed_media?: boolean;
  image_types?: string[];
  video_types?: string[];
  notes?: string;
}

export interface MediaInfo {
  kind: string; // image, gif or video
  content_type: string;
}

export interface Content {
  text: string;
  media?: MediaInfo[];
  link?: string;
  thread?: string[];
  firstComment?: string;
}

export interface CheckResult {
  length: number;
  max: number | null;
  ok: boolean;
  problems: string[];
}

const X_URL_WEIGHT = 23;

/** The length a platform counts: X's weighted length, elsewhere characters (code points). */
export function platformLength(platform: string, text: string): number {
  if (platform === 'twitter') return twitterText.parseTweet(text).weightedLength;
  return Array.from(text).length;
}

export function countHashtags(text: string): number {
  return twitterText.extractHashtags(text).length;
}

const fmt = (n: number) => n.toLocaleString('en-US');

export function checkContent(platform: string, rules: Rules, c: Content): CheckResult {
  const problems: string[] = [];
  const media = c.media ?? [];
  let length = platformLength(platform, c.text);
  // X appends the link to the text: a space and a t.co URL
  if (platform === 'twitter' && c.link) length += 1 + X_URL_WEIGHT;
  const max = rules.max_length ?? null;
  if (max != null && length > max) problems.push(`${fmt(length)} characters: the limit is ${fmt(max)} (${fmt(length - max)} too many)`);
  if (!c.text.trim() && !media.length) problems.push('Write some text or add media');
  if (rules.requires_media && !media.length) problems.push('Needs a photo or video');
  if (rules.max_media != null && media.length > rules.max_media) problems.push(`At most ${rules.max_media} media items`);
  const images = media.filter((m) => m.kind !== 'video').length;
  const videos = media.filter((m) => m.kind === 'video').length;
  if (rules.max_images != null && images > rules.max_images) problems.push(`At most ${rules.max_images} images`);
  if (rules.max_videos != null && videos > rules.max_videos) problems.push(`At most ${rules.max_videos} video${rules.max_videos === 1 ? '' : 's'}`);
  if (rules.mixed_media === false && images && videos) problems.push('Images and a video cannot be mixed');
  const types = [...(rules.image_types ?? []), ...(rules.video_types ?? [])];
  for (const m of media) if (types.length && !types.includes(m.content_type)) problems.push(`${m.content_type} is not accepted`);
  if (rules.max_hashtags != null) {
    const n = countHashtags(c.text);
    if (n > rules.max_hashtags) problems.push(`${n} hashtags: at most ${rules.max_hashtags}`);
  }
  const thread = (c.thread ?? []).filter((t) => t.trim());
  if (thread.length) {
    if (!rules.max_thread) problems.push('Threads are not supported here');
    else if (thread.length > rules.max_thread) problems.push(`At most ${rules.max_thread} follow-up posts`);
    thread.forEach((t, i) => {
      const n = platformLength(platform, t);
      if (max != null && n > max) problems.push(`Thread post ${i + 2}: ${fmt(n)} characters, the limit is ${fmt(max)}`);
    });
  }
  if (c.firstComment?.trim() && !rules.first_comment) problems.push('A first comment is not supported here');
  return { length, max, ok: problems.length === 0, problems };
}
