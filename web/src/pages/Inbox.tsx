import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Comment } from '../api/client';
import { unwrap } from '../api/errors';
import { useAccounts } from '../data';
import { useWorkspace } from '../workspace';
import { atLeast } from '../auth';
import { formatInZone } from '../lib/time';
import { ErrorBox, FieldError } from '../components/ErrorText';

type Sentiment = { label: string; score: number; needs_human: boolean; reasons: string[] } | null;

function CommentCard({ c, wid, tz, canEdit, accountName }: { c: Comment; wid: number; tz: string; canEdit: boolean; accountName: string }) {
  const qc = useQueryClient();
  const [text, setText] = useState(c.reply?.text ?? '');
  const s = c.sentiment as Sentiment;
  const refresh = () => void qc.invalidateQueries({ queryKey: ['comments', wid] });
  const send = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/workspaces/{wid}/comments/{cid}/reply', { params: { path: { wid, cid: c.id } }, body: { text } })),
    onSuccess: refresh,
  });
  const draft = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/workspaces/{wid}/comments/{cid}/draft', { params: { path: { wid, cid: c.id } }, body: {} })),
    onSuccess: (d) => {
      const r = (d as Comment).reply;
      if (r?.text) setText(r.text);
      refresh();
    },
  });
  const reply = c.reply;
  return (
    <li className="comment" data-testid={`comment-${c.id}`}>
      <div className="comment-head">
        <span className={`chip platform-${c.platform}`}>{c.platform}</span>
        <strong>{c.author_name || c.author_id}</strong>
        <span className="muted"> on {accountName} · {formatInZone(c.commented_at, tz)}</span>
        {s ? <span className={`badge sent-${s.label}`} title={s.reasons.join('; ')}>{s.label}</span> : <span className="badge">not scored</span>}
        {s?.needs_human && <span className="badge needs-human">needs a human</span>}
      </div>
      <p>{c.text}</p>
      {reply?.status && (
        <p className={`reply-status rs-${reply.status}`}>
          Reply {reply.status}{reply.automatic ? ' (automatic)' : ''}{reply.status === 'sent' && reply.text ? `: “${reply.text}”` : ''}
          {reply.error ? <span className="field-error"> · {String((reply.error as { message?: string }).message ?? '')}</span> : null}
          {reply.violations?.length ? <span className="warn"> · breaks: {reply.violations.join('; ')}</span> : null}
        </p>
      )}
      {canEdit && reply?.status !== 'sent' && (
        <form
          className="reply-form"
          onSubmit={(e) => {
            e.preventDefault();
            send.mutate();
          }}
        >
          <label>
            Reply to {c.author_name || 'this comment'}
            <textarea rows={2} value={text} onChange={(e) => setText(e.target.value)} />
          </label>
          <FieldError error={send.error} field="text" />
          <div className="actions">
            <button type="submit" className="primary" disabled={!text.trim() || send.isPending}>Send reply</button>
            <button type="button" onClick={() => draft.mutate()} disabled={draft.isPending}>{draft.isPending ? 'Drafting…' : 'Draft with AI'}</button>
          </div>
          <ErrorBox error={send.error} shownFields={['text']} title="Reply not sent" />
          <ErrorBox error={draft.error} title="No draft" />
        </form>
      )}
    </li>
  );
}

export default function InboxPage() {
  const { wid, ws, tz } = useWorkspace();
  const canEdit = atLeast(ws?.role, 'editor');
  const isAdmin = atLeast(ws?.role, 'admin');
  const qc = useQueryClient();
  const accounts = useAccounts(wid);
  const [accountId, setAccountId] = useState('');
  const [sentiment, setSentiment] = useState('');
  const [needsHuman, setNeedsHuman] = useState('');
  const [replyStatus, setReplyStatus] = useState('');
  const query: Record<string, unknown> = { limit: 50 };
  if (accountId) query.account_id = Number(accountId);
  if (sentiment) query.sentiment = sentiment;
  if (needsHuman) query.needs_human = needsHuman === 'yes';
  if (replyStatus) query.reply_status = replyStatus;
  const comments = useQuery({
    queryKey: ['comments', wid, query],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/comments', { params: { path: { wid }, query: query as never } })),
    refetchInterval: 10_000,
  });
  const policy = useQuery({
    queryKey: ['reply-policy', wid],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/reply-policy', { params: { path: { wid } } })),
  });
  const setPolicy = useMutation({
    mutationFn: (reply_mode: 'off' | 'draft' | 'auto_positive') =>
      unwrap(api.PUT('/api/v1/workspaces/{wid}/reply-policy', { params: { path: { wid } }, body: { reply_mode } })),
    onSuccess: (d) => qc.setQueryData(['reply-policy', wid], d),
  });
  const name = (id: number) => {
    const a = accounts.data?.find((x) => x.id === id);
    return a ? a.display_name || a.username || `account ${id}` : `account ${id}`;
  };
  return (
    <div>
      <div className="page-head">
        <h1>Inbox</h1>
      </div>
      <section className="policy" aria-label="Reply policy">
        <label>
          Reply policy
          <select
            value={policy.data?.reply_mode ?? ''}
            disabled={!isAdmin || setPolicy.isPending || !policy.data}
            onChange={(e) => setPolicy.mutate(e.target.value as 'off' | 'draft' | 'auto_positive')}
          >
            <option value="off">Off: nothing is drafted or sent</option>
            <option value="draft">Draft: the AI drafts, a person sends</option>
            <option value="auto_positive">Auto: send to positive comments that need no human</option>
          </select>
        </label>
        {!isAdmin && <span className="muted">Admins change the policy.</span>}
        <ErrorBox error={policy.error ?? setPolicy.error} title="Reply policy" />
      </section>
      <div className="filters" role="group" aria-label="Filters">
        <label>
          Account
          <select value={accountId} onChange={(e) => setAccountId(e.target.value)}>
            <option value="">All accounts</option>
            {(accounts.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.display_name || a.username} ({a.platform})</option>)}
          </select>
        </label>
        <label>
          Sentiment
          <select value={sentiment} onChange={(e) => setSentiment(e.target.value)}>
            <option value="">Any</option>
            <option value="positive">Positive</option>
            <option value="neutral">Neutral</option>
            <option value="negative">Negative</option>
            <option value="unscored">Not scored</option>
          </select>
        </label>
        <label>
          Needs a human
          <select value={needsHuman} onChange={(e) => setNeedsHuman(e.target.value)}>
            <option value="">Any</option>
            <option value="yes">Yes</option>
            <option value="no">No</option>
          </select>
        </label>
        <label>
          Reply
          <select value={replyStatus} onChange={(e) => setReplyStatus(e.target.value)}>
            <option value="">Any</option>
            <option value="none">No reply yet</option>
            <option value="drafted">Drafted</option>
            <option value="sent">Sent</option>
            <option value="failed">Failed</option>
          </select>
        </label>
      </div>
      <ErrorBox error={comments.error} title="Could not load comments" />
      {comments.isLoading && <p>Loading…</p>}
      {comments.data && comments.data.items.length === 0 && <p>No comments match.</p>}
      <ul className="comments">
        {comments.data?.items.map((c) => <CommentCard key={c.id} c={c} wid={wid} tz={tz} canEdit={canEdit} accountName={name(c.account_id)} />)}
      </ul>
    </div>
  );
}
