// A post's detail: targets with status, the platform's message when one failed, retry,
// publish now, cancel, delete, edit.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, type Account, type Post } from '../api/client';
import { unwrap } from '../api/errors';
import { formatInZone } from '../lib/time';
import { STATUS_LABEL, isMovable } from '../lib/calendar';
import { ErrorBox } from './ErrorText';

export function errorText(e: unknown): string {
  if (!e) return '';
  if (typeof e === 'string') return e;
  const o = e as Record<string, unknown>;
  return String(o.message ?? o.detail ?? JSON.stringify(o));
}

export function PostPanel({ wid, postId, tz, accounts, canEdit, onClose }: {
  wid: number; postId: number; tz: string; accounts: Account[]; canEdit: boolean; onClose: () => void;
}) {
  const qc = useQueryClient();
  const [retryError, setRetryError] = useState<Record<number, unknown>>({});
  const q = useQuery({
    queryKey: ['post', wid, postId],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/posts/{pid}', { params: { path: { wid, pid: postId } } })) as Promise<Post>,
  });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['posts', wid] });
    void qc.invalidateQueries({ queryKey: ['post', wid, postId] });
  };
  const action = useMutation({
    mutationFn: async (kind: 'publish' | 'cancel' | 'delete') => {
      const path = { wid, pid: postId };
      if (kind === 'publish') return unwrap(api.POST('/api/v1/workspaces/{wid}/posts/{pid}/publish', { params: { path } }));
      if (kind === 'cancel') return unwrap(api.POST('/api/v1/workspaces/{wid}/posts/{pid}/cancel', { params: { path } }));
      return unwrap(api.DELETE('/api/v1/workspaces/{wid}/posts/{pid}', { params: { path } }));
    },
    onSuccess: (_d, kind) => {
      refresh();
      if (kind === 'delete') onClose();
    },
  });
  // Retry a failed target: the same content again, as a new post to that account, now.
  const retry = useMutation({
    mutationFn: async (accountId: number) => {
      const p = q.data!;
      const t = p.targets.find((x) => x.account_id === accountId)!;
      return unwrap(
        api.POST('/api/v1/workspaces/{wid}/posts', {
          params: { path: { wid }, header: { 'Idempotency-Key': `retry-${p.id}-${t.id}-${t.attempts}` } as never },
          body: {
            account_ids: [accountId],
            text: t.text ?? p.text,
            media_ids: p.media_ids,
            link: p.link ?? undefined,
            thread: p.thread?.length ? p.thread : undefined,
            first_comment: p.first_comment ?? undefined,
            publish_now: true,
          },
        }),
      );
    },
    onSuccess: refresh,
    onError: (e, accountId) => setRetryError((r) => ({ ...r, [accountId]: e })),
  });
  const p = q.data;
  return (
    <section className="panel" aria-label="Post details">
      <div className="panel-head">
        <h2>Post {postId}</h2>
        <button type="button" onClick={onClose} aria-label="Close post details">×</button>
      </div>
      {q.isLoading && <p>Loading…</p>}
      <ErrorBox error={q.error} title="Could not load the post" />
      {p && (
        <>
          <p className="post-text">{p.text}</p>
          <p className="muted">{p.scheduled_at ? formatInZone(p.scheduled_at, tz) : 'No time: draft'} · {STATUS_LABEL[p.status] ?? p.status}</p>
          <ul className="targets">
            {p.targets.map((t) => {
              const a = accounts.find((x) => x.id === t.account_id);
              return (
                <li key={t.id} className={`target status-${t.status}`} data-testid={`target-${t.id}`}>
                  <span className={`chip platform-${t.platform}`}>{t.platform}</span>{' '}
                  <span>{a ? a.display_name || a.username : `account ${t.account_id}`}</span>{' '}
                  <strong className="status-label">{STATUS_LABEL[t.status] ?? t.status}</strong>
                  {t.published_at && <span className="muted"> · {formatInZone(t.published_at, tz)}</span>}
                  {t.external_url && (
                    <> · <a href={t.external_url} target="_blank" rel="noreferrer">view on {t.platform}</a></>
                  )}
                  {t.status === 'held' && <p className="warn">Waiting for the account: reconnect it on the Accounts page.</p>}
                  {t.status === 'failed' && (
                    <div className="failure">
                      <p className="field-error" role="alert">{t.platform} said: {errorText(t.last_error) || 'no message'}</p>
                      {canEdit && (
                        <button type="button" onClick={() => retry.mutate(t.account_id)} disabled={retry.isPending}>
                          Retry on this account
                        </button>
                      )}
                      <ErrorBox error={retryError[t.account_id]} title="Retry failed" />
                    </div>
                  )}
                </li>
              );
            })}
          </ul>
          {canEdit && (
            <div className="actions">
              {isMovable(p) && <Link className="button" to={`/w/${wid}/compose/${p.id}`}>Edit</Link>}
              {p.targets.some((t) => t.status === 'draft' || t.status === 'scheduled') && (
                <button type="button" onClick={() => action.mutate('publish')} disabled={action.isPending}>Publish now</button>
              )}
              {isMovable(p) && <button type="button" onClick={() => action.mutate('cancel')} disabled={action.isPending}>Cancel</button>}
              {isMovable(p) && <button type="button" className="danger" onClick={() => action.mutate('delete')} disabled={action.isPending}>Delete</button>}
            </div>
          )}
          <ErrorBox error={action.error} title="That did not work" />
        </>
      )}
    </section>
  );
}
