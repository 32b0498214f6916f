// Live updates: the workspace's Server-Sent Events stream patches the cached posts at once
// (no reload), then refetches them in the background.
import { createContext, useContext, useEffect, useState } from 'react';
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { Post } from './api/client';

export interface TargetEvent {
  post_id: number;
  target_id: number;
  account_id: number;
  status: Post['targets'][number]['status'];
  error?: { message?: string; kind?: string; class?: string } | string | null;
  published_at?: string | null;
  url?: string | null;
}

/** Applies one target event to a post (a new object; the others are left as they are). */
export function applyTargetEvent(post: Post, ev: TargetEvent): Post {
  if (post.id !== ev.post_id) return post;
  const targets = post.targets.map((t) =>
    t.id === ev.target_id
      ? {
          ...t,
          status: ev.status,
          last_error: ev.error === undefined ? t.last_error : typeof ev.error === 'string' ? { message: ev.error } : ev.error,
          published_at: ev.published_at ?? t.published_at,
          external_url: ev.url ?? t.external_url,
        }
      : t,
  );
  return { ...post, targets, status: derivePostStatus(targets, post.status) };
}

/** The post's status from its targets' (as the server derives it; close enough to draw). */
export function derivePostStatus(targets: Post['targets'], fallback: Post['status']): Post['status'] {
  const s = new Set(targets.map((t) => t.status));
  if (!s.size) return fallback;
  const only = (x: string) => s.size === 1 && s.has(x as never);
  if (only('published')) return 'published';
  if (only('canceled')) return 'canceled';
  if (only('draft')) return 'draft';
  if (['queued', 'publishing', 'unknown'].some((x) => s.has(x as never))) return 'publishing';
  if (s.has('published')) return s.has('failed') ? 'partially_published' : fallback === 'published' ? 'published' : 'partially_published';
  if (s.has('failed')) return 'failed';
  if (s.has('scheduled') || s.has('held')) return 'scheduled';
  return fallback;
}

function patchCaches(qc: QueryClient, wid: number, ev: TargetEvent): void {
  qc.setQueriesData<Post[]>({ queryKey: ['posts', wid] }, (old) => (Array.isArray(old) ? old.map((p) => applyTargetEvent(p, ev)) : old));
  qc.setQueryData<Post>(['post', wid, ev.post_id], (old) => (old ? applyTargetEvent(old, ev) : old));
}

/** Subscribes to /api/v1/workspaces/{wid}/events while mounted; returns whether it is open. */
export function useLiveEvents(wid: number): boolean {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!wid || typeof EventSource === 'undefined') return;
    const es = new EventSource(`/api/v1/workspaces/${wid}/events`, { withCredentials: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refetchSoon = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        void qc.invalidateQueries({ queryKey: ['posts', wid] });
        void qc.invalidateQueries({ queryKey: ['post', wid] });
      }, 400);
    };
    es.onopen = () => setOpen(true);
    es.onerror = () => setOpen(false);
    es.addEventListener('target', (e) => {
      try {
        patchCaches(qc, wid, JSON.parse((e as MessageEvent).data) as TargetEvent);
      } catch {
        /* a malformed event: the refetch below brings the truth */
      }
      refetchSoon();
    });
    es.addEventListener('post', refetchSoon);
    return () => {
      clearTimeout(timer);
      es.close();
      setOpen(false);
    };
  }, [wid, qc]);
  return open;
}

/** Whether the workspace's event stream is open (pages poll while it is not). */
export const LiveContext = createContext(false);
export const useLive = () => useContext(LiveContext);
