// The typed API client: openapi-fetch over the generated schema. The browser holds the
// session in an HttpOnly cookie; every unsafe request carries the CSRF cookie's value.
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths, components } from './schema';

export type Schemas = components['schemas'];
export type Post = Schemas['Post'];
export type PostDetail = Schemas['PostDetail'];
export type Target = Schemas['Target'];
export type Account = Schemas['Account'];
export type Platform = Schemas['Platform'];
export type Comment = Schemas['Comment'];
export type Workspace = Schemas['Workspace'];
export type WorkspaceBrief = Schemas['WorkspaceBrief'];
export type Role = WorkspaceBrief['role'];

export const CSRF_COOKIE = 'clientnest_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function readCookie(name: string, cookies: string = typeof document === 'undefined' ? '' : document.cookie): string | null {
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

/** Headers an unsafe request needs besides the cookie. */
export function csrfHeaders(method: string): Record<string, string> {
  if (SAFE.has(method.toUpperCase())) return {};
  const token = readCookie(CSRF_COOKIE);
  return token ? { [CSRF_HEADER]: token } : {};
}

const csrf: Middleware = {
  onRequest({ request }) {
    for (const [k, v] of Object.entries(csrfHeaders(request.method))) request.headers.set(k, v);
    return request;
  },
};

/** Tells the app when the session is gone (401 on anything but the session probe). */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}
const unauthorized: Middleware = {
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith('/api/v1/auth/')) onUnauthorized?.();
    return response;
  },
};

export const api = createClient<paths>({
  baseUrl: typeof window === 'undefined' ? 'http://localhost' : window.location.origin,
  credentials: 'same-origin',
});
api.use(csrf, unauthorized);
