import { describe, expect, it, vi, beforeEach } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';

// The fake API: openapi-fetch takes globalThis.fetch when the client is created, so it is
// replaced before any module is imported.
const calls = vi.hoisted(() => {
  const calls: { method: string; url: string; headers: Headers; body: string }[] = [];
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost/'), init);
    const url = new URL(req.url).pathname;
    const body = req.method === 'GET' ? '' : await req.text();
    calls.push({ method: req.method, url, headers: req.headers, body });
    if (url === '/api/v1/auth/session') return json(200, { user: { id: 1, email: 'e@x', name: 'E' }, workspaces: [] });
    if (url === '/api/v1/me') return json(200, { user: { id: 1, email: 'e@x', name: 'E' }, workspaces: [{ id: 1, name: 'W', role: 'editor', timezone: 'Europe/Paris' }] });
    if (url === '/api/v1/platforms') return json(200, [{ name: 'twitter', rules: { max_length: 280, max_thread: 24 } }]);
    if (url === '/api/v1/workspaces/1/accounts') return json(200, [{ id: 3, platform: 'twitter', display_name: 'Shop', username: 'shop', status: 'connected' }]);
    if (url === '/api/v1/workspaces/1/posts' && req.method === 'POST') {
      const text = JSON.parse(body).text as string;
      if (text.length > 280) {
        return json(422, { code: 422, status: 'Unprocessable Entity', message: 'account 3 (twitter) breaks rule max_length: text is 281 characters; X (Twitter) allows 280', errors: { targets: { '3': [{ rule: 'max_length', message: 'text is 281 characters; X (Twitter) allows 280' }] } } });
      }
      await new Promise((r) => setTimeout(r, 50));
      return json(201, { id: 9, status: 'draft', scheduled_at: null, targets: [] });
    }
    if (url === '/api/v1/workspaces/1/accounts/3/next-best') {
      return json(200, { account_id: 3, scheduled_at: '2030-01-08T13:00:00+00:00', local_time: '2030-01-08T14:00:00+01:00', time_zone: 'Europe/Paris', source: 'account_history', explanation: 'Tue 14:00: 6.1 % median engagement rate over 9 posts, account median 2.8 %' });
    }
    if (url === '/api/v1/workspaces/1/accounts/3/predict') {
      return json(200, { account_id: 3, available: false, posts_in_history: 2, min_posts: 12, reason: 'only 2 post(s) of this account have an engagement rate; 12 are needed to predict honestly' });
    }
    return json(404, { message: `no fake for ${req.method} ${url}` });
  }) as typeof fetch;
  return calls;
});

import ComposerPage from './Composer';
import { AuthProvider } from '../auth';

function renderComposer() {
  document.cookie = 'clientnest_csrf=tok; path=/';
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={['/w/1/compose']}>
        <AuthProvider>
          <Routes>
            <Route path="/w/:wid/compose" element={<ComposerPage />} />
          </Routes>
        </AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('Composer with the API', () => {
  beforeEach(() => {
    calls.length = 0;
  });

  it("shows the API's error next to the account it concerns", async () => {
    renderComposer();
    await userEvent.click(await screen.findByRole('checkbox', { name: /Shop/ }));
    await userEvent.click(screen.getByLabelText('Text'));
    await userEvent.paste('y'.repeat(281));
    await userEvent.click(screen.getByRole('button', { name: 'Save draft' }));
    const card = screen.getByTestId('checks-twitter');
    await waitFor(() => expect(card).toHaveTextContent('text is 281 characters; X (Twitter) allows 280'));
    expect(screen.getByText(/Not saved:/).closest('[role=alert]')).toHaveTextContent('account 3 (twitter) breaks rule max_length');
  });

  it('a double click sends one request with an Idempotency-Key and the CSRF header', async () => {
    renderComposer();
    await userEvent.click(await screen.findByRole('checkbox', { name: /Shop/ }));
    await userEvent.type(screen.getByLabelText('Text'), 'hello');
    await userEvent.dblClick(screen.getByRole('button', { name: 'Save draft' }));
    await screen.findByText(/Saved post 9/);
    const posts = calls.filter((c) => c.method === 'POST' && c.url === '/api/v1/workspaces/1/posts');
    expect(posts.length).toBeGreaterThanOrEqual(1);
    const keys = new Set(posts.map((c) => c.headers.get('Idempotency-Key')));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toBeTruthy();
    expect(posts[0].headers.get('X-CSRF-Token')).toBe('tok');
  });

  it("'Best time' fills the time from next-best with its explanation, and says why there is no prediction", async () => {
    renderComposer();
    await userEvent.click(await screen.findByRole('checkbox', { name: /Shop/ }));
    await userEvent.click(screen.getByRole('radio', { name: 'Best time' }));
    const box = await screen.findByTestId('best-time');
    await waitFor(() => expect(box).toHaveTextContent('6.1 % median engagement rate over 9 posts'));
    await waitFor(() => expect((screen.getByLabelText(/Date and time/) as HTMLInputElement).value).toMatch(/^2030-01-08T14:00/));
    await userEvent.click(screen.getByRole('button', { name: 'Predict engagement' }));
    expect(await screen.findByTestId('prediction')).toHaveTextContent('No prediction: only 2 post(s)');
    const sent = calls.find((c) => c.url.endsWith('/predict'));
    expect(new Date(JSON.parse(sent!.body).scheduled_at).toISOString()).toBe('2030-01-08T13:00:00.000Z');
  });
});
