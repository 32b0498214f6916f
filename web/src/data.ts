// Shared server-state queries (TanStack Query) over the typed client.
import { useQuery } from '@tanstack/react-query';
import { api, type Account, type Platform, type Post } from './api/client';
import { unwrap } from './api/errors';

export function usePlatforms() {
  return useQuery({
    queryKey: ['platforms'],
    queryFn: () => unwrap(api.GET('/api/v1/platforms')) as Promise<Platform[]>,
    staleTime: 5 * 60_000,
  });
}

export function useAccounts(wid: number) {
  return useQuery({
    queryKey: ['accounts', wid],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/accounts', { params: { path: { wid } } })) as Promise<Account[]>,
    enabled: !!wid,
  });
}

/** Every post scheduled in [from, to), all pages. */
export async function fetchPostsRange(wid: number, from: string, to: string): Promise<Post[]> {
  const out: Post[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await unwrap(
      api.GET('/api/v1/workspaces/{wid}/posts', { params: { path: { wid }, query: { from, to, limit: 100, cursor } } }),
    );
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

export async function fetchRecentPosts(wid: number, pages = 3): Promise<Post[]> {
  const out: Post[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < pages; i++) {
    const page = await unwrap(api.GET('/api/v1/workspaces/{wid}/posts', { params: { path: { wid }, query: { limit: 100, cursor } } }));
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}
