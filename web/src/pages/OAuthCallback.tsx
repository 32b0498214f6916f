// Where the platform sends the browser back: the app hands code and state to the API's
// callback, then shows the result (or lets the user pick among several pages/organisations).
import { useState } from 'react';
import { Link, Navigate, useParams, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { toApiError, ApiError } from '../api/errors';
import { ErrorBox } from '../components/ErrorText';
import { useAuth } from '../auth';
import { CONNECT_KEY } from './Accounts';

type Result = { kind: 'stored'; accounts: Schemas['Account'][] } | { kind: 'choose'; c: Schemas['Candidates'] };

export default function OAuthCallbackPage() {
  const { platform = '' } = useParams();
  const [params] = useSearchParams();
  const qc = useQueryClient();
  const { workspaces } = useAuth();
  const saved = JSON.parse(sessionStorage.getItem(CONNECT_KEY) ?? 'null') as { wid: number } | null;
  const state = params.get('state') ?? '';
  const q = useQuery({
    queryKey: ['oauth-callback', platform, state],
    staleTime: Infinity,
    gcTime: Infinity,
    retry: false,
    queryFn: async (): Promise<Result> => {
      const query = Object.fromEntries(params.entries());
      const r = await api.GET('/api/v1/oauth/{platform}/callback', { params: { path: { platform }, query: query as never } });
      if (!r.response.ok) throw toApiError(r.response.status, r.error);
      if (r.response.status === 200) return { kind: 'choose', c: r.data as unknown as Schemas['Candidates'] };
      return { kind: 'stored', accounts: (r.data as Schemas['AccountList']).accounts ?? [] };
    },
  });
  const [picked, setPicked] = useState<string[]>([]);
  const wid = (q.data?.kind === 'choose' ? q.data.c.workspace_id : undefined) ?? saved?.wid ?? workspaces[0]?.id;
  const select = useMutation({
    mutationFn: async () => {
      if (q.data?.kind !== 'choose') throw new ApiError(400, 'nothing to choose');
      const r = await api.POST('/api/v1/workspaces/{wid}/accounts/connect/{connection_id}/select', {
        params: { path: { wid: q.data.c.workspace_id!, connection_id: q.data.c.connection_id! } },
        body: { external_ids: picked },
      });
      if (!r.response.ok) throw toApiError(r.response.status, r.error);
      return r.data;
    },
  });
  if (q.data?.kind === 'stored' || select.isSuccess) {
    const names = (q.data?.kind === 'stored' ? q.data.accounts : select.data?.accounts ?? []).map((a) => a.display_name || a.username).join(', ');
    sessionStorage.removeItem(CONNECT_KEY);
    void qc.invalidateQueries({ queryKey: ['accounts'] });
    return <Navigate to={`/w/${wid}/accounts`} replace state={{ notice: `Connected ${names} (${platform}).` }} />;
  }
  return (
    <main className="narrow">
      <h1>Connecting {platform}</h1>
      {q.isLoading && <p>Finishing the connection…</p>}
      <ErrorBox error={q.error} title={`${platform} was not connected`} />
      {q.data?.kind === 'choose' && (
        <form onSubmit={(e) => { e.preventDefault(); select.mutate(); }}>
          <fieldset>
            <legend>Choose the accounts to connect</legend>
            {(q.data.c.candidates ?? []).map((c) => (
              <label key={c.external_id} className="inline">
                <input
                  type="checkbox"
                  checked={picked.includes(c.external_id!)}
                  onChange={() => setPicked((p) => (p.includes(c.external_id!) ? p.filter((x) => x !== c.external_id) : [...p, c.external_id!]))}
                />{' '}
                {c.display_name} {c.username ? `@${c.username}` : ''} ({c.kind})
              </label>
            ))}
          </fieldset>
          <button type="submit" className="primary" disabled={!picked.length || select.isPending}>Connect selected</button>
          <ErrorBox error={select.error} title="Not connected" />
        </form>
      )}
      {wid ? <p><Link to={`/w/${wid}/accounts`}>Back to accounts</Link></p> : null}
    </main>
  );
}
