// The browser session: cookie-based (HttpOnly clientnest_session + readable clientnest_csrf),
// through /api/v1/auth/session. Bearer tokens stay for API clients.
import { createContext, useContext, useEffect, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, csrfHeaders, setUnauthorizedHandler, type WorkspaceBrief } from './api/client';
import { toApiError, unwrap, ApiError } from './api/errors';

export interface SessionUser {
  id: number;
  email: string;
  name: string;
}

async function sessionFetch(method: string, body?: unknown): Promise<Response> {
  try {
    return await fetch('/api/v1/auth/session', {
      method,
      credentials: 'same-origin',
      headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}), ...csrfHeaders(method) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, `The server could not be reached (${(e as Error).message}).`);
  }
}

async function json(r: Response): Promise<unknown> {
  try {
    return await r.json();
  } catch {
    return null;
  }
}

export async function getSession(): Promise<SessionUser | null> {
  const r = await sessionFetch('GET');
  if (r.status === 401) return null;
  const body = await json(r);
  if (!r.ok) throw toApiError(r.status, body);
  const b = body as { user?: SessionUser } & SessionUser;
  return b.user ?? b;
}

export async function signIn(email: string, password: string): Promise<SessionUser> {
  const r = await sessionFetch('POST', { email, password });
  const body = await json(r);
  if (!r.ok) throw toApiError(r.status, body);
  const b = body as { user?: SessionUser } & SessionUser;
  return b.user ?? b;
}

export async function signOut(): Promise<void> {
  const r = await sessionFetch('DELETE');
  if (!r.ok && r.status !== 401) throw toApiError(r.status, await json(r));
}

interface AuthState {
  user: SessionUser | null | undefined;
  workspaces: WorkspaceBrief[];
  loading: boolean;
  error: unknown;
}

const AuthContext = createContext<AuthState>({ user: undefined, workspaces: [], loading: true, error: null });

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const session = useQuery({ queryKey: ['session'], queryFn: getSession, staleTime: 60_000, retry: false });
  const me = useQuery({
    queryKey: ['me'],
    queryFn: () => unwrap(api.GET('/api/v1/me')),
    enabled: !!session.data,
    staleTime: 30_000,
  });
  useEffect(() => {
    setUnauthorizedHandler(() => qc.setQueryData(['session'], null));
    return () => setUnauthorizedHandler(null);
  }, [qc]);
  const value: AuthState = {
    user: session.data,
    workspaces: me.data?.workspaces ?? [],
    loading: session.isLoading || (!!session.data && me.isLoading),
    error: session.error ?? me.error,
  };
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export const useAuth = () => useContext(AuthContext);

const RANK = { viewer: 0, editor: 1, admin: 2, owner: 3 } as const;
/** Whether the caller's role in a workspace is at least `min` (the server still decides). */
export function atLeast(role: WorkspaceBrief['role'] | undefined, min: keyof typeof RANK): boolean {
  return role != null && RANK[role] >= RANK[min];
}
