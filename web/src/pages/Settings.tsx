import { useEffect, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Role } from '../api/client';
import { unwrap } from '../api/errors';
import { useWorkspace } from '../workspace';
import { atLeast, useAuth } from '../auth';
import { formatInZone } from '../lib/time';
import { ErrorBox, FieldError } from '../components/ErrorText';
import { EChart } from '../components/EChart';

const ROLES: Role[] = ['viewer', 'editor', 'admin', 'owner'];

function WorkspaceForm({ wid, isAdmin }: { wid: number; isAdmin: boolean }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['workspace', wid], queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}', { params: { path: { wid } } })) });
  const { register, handleSubmit, reset } = useForm<{ name: string; timezone: string; brand_voice: string; reply_rules: string; ai_budget_usd: string }>();
  useEffect(() => {
    if (q.data) reset({ name: q.data.name, timezone: q.data.timezone, brand_voice: q.data.brand_voice ?? '', reply_rules: (q.data.reply_rules ?? []).join('\n'), ai_budget_usd: String(q.data.ai_budget_usd ?? '') });
  }, [q.data, reset]);
  const save = useMutation({
    mutationFn: (v: { name: string; timezone: string; brand_voice: string; reply_rules: string; ai_budget_usd: string }) =>
      unwrap(api.PATCH('/api/v1/workspaces/{wid}', {
        params: { path: { wid } },
        body: { name: v.name, timezone: v.timezone, brand_voice: v.brand_voice, reply_rules: v.reply_rules.split('\n').map((s) => s.trim()).filter(Boolean), ai_budget_usd: Number(v.ai_budget_usd) },
      })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['workspace', wid] });
      void qc.invalidateQueries({ queryKey: ['me'] });
    },
  });
  return (
    <section aria-labelledby="ws-h">
      <h2 id="ws-h">Workspace</h2>
      <ErrorBox error={q.error} title="Could not load the workspace" />
      <form onSubmit={handleSubmit((v) => save.mutate(v))} noValidate>
        <fieldset disabled={!isAdmin}>
          <label>Name<input {...register('name')} /></label>
          <FieldError error={save.error} field="name" />
          <label>Time zone (IANA)<input {...register('timezone')} /></label>
          <FieldError error={save.error} field="timezone" />
          <label>Brand voice<textarea rows={2} {...register('brand_voice')} /></label>
          <FieldError error={save.error} field="brand_voice" />
          <label>Reply rules (one per line)<textarea rows={3} {...register('reply_rules')} /></label>
          <FieldError error={save.error} field="reply_rules" />
          <label>Monthly AI budget (USD)<input type="number" step="0.01" min="0" {...register('ai_budget_usd')} /></label>
          <FieldError error={save.error} field="ai_budget_usd" />
          {isAdmin && <button type="submit" className="primary" disabled={save.isPending}>Save workspace</button>}
          {save.isSuccess && <span role="status"> Saved.</span>}
        </fieldset>
        <ErrorBox error={save.error} shownFields={['name', 'timezone', 'brand_voice', 'reply_rules', 'ai_budget_usd']} title="Not saved" />
      </form>
    </section>
  );
}

function AiUsage({ wid }: { wid: number }) {
  const q = useQuery({ queryKey: ['ai-usage', wid], queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/ai/usage', { params: { path: { wid } } })) });
  if (q.error) return <ErrorBox error={q.error} title="Could not load AI usage" />;
  if (!q.data) return null;
  const byDay = new Map<string, number>();
  for (const r of q.data.days) byDay.set(r.day, (byDay.get(r.day) ?? 0) + r.cost_usd);
  const days = [...byDay.keys()].sort();
  const b = q.data.budget;
  return (
    <section aria-labelledby="ai-h">
      <h2 id="ai-h">AI budget</h2>
      <p>Spent ${b.spent_usd.toFixed(4)} of ${b.budget_usd.toFixed(2)} this month; ${b.remaining_usd.toFixed(4)} left.</p>
      {days.length > 0 ? (
        <EChart label="AI cost per day" height={220} option={{ tooltip: { trigger: 'axis' }, grid: { left: 56, right: 16, top: 16, bottom: 32 }, xAxis: { type: 'category', data: days }, yAxis: { type: 'value', name: 'USD' }, series: [{ type: 'bar', name: 'cost (USD)', data: days.map((d) => byDay.get(d)) }] }} />
      ) : (
        <p className="muted">No AI use yet.</p>
      )}
    </section>
  );
}

function Members({ wid, role }: { wid: number; role: Role | undefined }) {
  const qc = useQueryClient();
  const { user } = useAuth();
  const isAdmin = atLeast(role, 'admin');
  const q = useQuery({ queryKey: ['members', wid], queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/members', { params: { path: { wid } } })) });
  const refresh = () => void qc.invalidateQueries({ queryKey: ['members', wid] });
  const [email, setEmail] = useState('');
  const [newRole, setNewRole] = useState<Role>('editor');
  const add = useMutation({ mutationFn: () => unwrap(api.POST('/api/v1/workspaces/{wid}/members', { params: { path: { wid } }, body: { email, role: newRole } })), onSuccess: () => { setEmail(''); refresh(); } });
  const change = useMutation({ mutationFn: ({ uid, r }: { uid: number; r: Role }) => unwrap(api.PATCH('/api/v1/workspaces/{wid}/members/{uid}', { params: { path: { wid, uid } }, body: { role: r } })), onSettled: refresh });
  const remove = useMutation({ mutationFn: (uid: number) => unwrap(api.DELETE('/api/v1/workspaces/{wid}/members/{uid}', { params: { path: { wid, uid } } })), onSuccess: refresh });
  return (
    <section aria-labelledby="members-h">
      <h2 id="members-h">Members and roles</h2>
      <ErrorBox error={q.error} title="Could not load members" />
      <ul className="members">
        {(q.data ?? []).map((m) => (
          <li key={m.user_id}>
            <span>{m.name || m.email} <span className="muted">{m.email}</span></span>
            {isAdmin ? (
              <label>
                <span className="sr-only">Role of {m.email}</span>
                <select value={m.role} onChange={(e) => change.mutate({ uid: m.user_id, r: e.target.value as Role })}>
                  {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                </select>
              </label>
            ) : (
              <span className="badge">{m.role}</span>
            )}
            {(isAdmin || m.user_id === user?.id) && (
              <button type="button" className="link-button" onClick={() => remove.mutate(m.user_id)}>{m.user_id === user?.id ? 'Leave' : 'Remove'}</button>
            )}
          </li>
        ))}
      </ul>
      <ErrorBox error={change.error} title="Role not changed" />
      <ErrorBox error={remove.error} title="Not removed" />
      {isAdmin && (
        <form onSubmit={(e) => { e.preventDefault(); add.mutate(); }} className="row-form">
          <label>Email of a registered user<input type="email" value={email} onChange={(e) => setEmail(e.target.value)} /></label>
          <label>Role
            <select value={newRole} onChange={(e) => setNewRole(e.target.value as Role)}>
              {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </label>
          <button type="submit" disabled={!email || add.isPending}>Add member</button>
          <FieldError error={add.error} field="email" />
          <ErrorBox error={add.error} shownFields={['email']} title="Not added" />
        </form>
      )}
    </section>
  );
}

function Platforms({ wid, isAdmin }: { wid: number; isAdmin: boolean }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['ws-platforms', wid], queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/platforms', { params: { path: { wid } } })) });
  const sw = useMutation({
    mutationFn: ({ name, enabled }: { name: string; enabled: boolean }) => unwrap(api.PUT('/api/v1/workspaces/{wid}/platforms/{name}', { params: { path: { wid, name } }, body: { enabled } })),
    onSettled: () => void qc.invalidateQueries({ queryKey: ['ws-platforms', wid] }),
  });
  return (
    <section aria-labelledby="pl-h">
      <h2 id="pl-h">Platforms</h2>
      <ErrorBox error={q.error ?? sw.error} title="Platforms" />
      <ul>
        {((q.data ?? []) as { name: string; display_name: string; enabled: boolean }[]).map((p) => (
          <li key={p.name}>
            <label className="inline">
              <input type="checkbox" checked={p.enabled} disabled={!isAdmin || sw.isPending} onChange={(e) => sw.mutate({ name: p.name, enabled: e.target.checked })} /> {p.display_name || p.name}
            </label>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Tokens({ tz }: { tz: string }) {
  const qc = useQueryClient();
  const { user } = useAuth();
  const q = useQuery({ queryKey: ['tokens'], queryFn: () => unwrap(api.GET('/api/v1/auth/tokens')) });
  const [label, setLabel] = useState('');
  const [password, setPassword] = useState('');
  const [shown, setShown] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/auth/tokens', { body: { email: user!.email, password, label } })),
    onSuccess: (d) => { setShown(d.token); setPassword(''); setLabel(''); void qc.invalidateQueries({ queryKey: ['tokens'] }); },
  });
  const revoke = useMutation({ mutationFn: (id: number) => unwrap(api.DELETE('/api/v1/auth/tokens/{token_id}', { params: { path: { token_id: id } } })), onSuccess: () => void qc.invalidateQueries({ queryKey: ['tokens'] }) });
  return (
    <section aria-labelledby="tok-h">
      <h2 id="tok-h">API tokens</h2>
      <ErrorBox error={q.error} title="Could not load tokens" />
      {shown && (
        <div className="notice" role="status">
          <p>Your new token, shown this once only: copy it now.</p>
          <code className="token" data-testid="new-token">{shown}</code>{' '}
          <button type="button" onClick={() => setShown(null)}>I copied it</button>
        </div>
      )}
      <ul>
        {(q.data ?? []).map((t) => (
          <li key={t.id}>
            <strong>{t.label}</strong> <code>{t.prefix}…</code> <span className="muted">created {formatInZone(t.created_at, tz)}{t.last_used_at ? `, last used ${formatInZone(t.last_used_at, tz)}` : ''}</span>{' '}
            <button type="button" className="link-button danger" onClick={() => revoke.mutate(t.id)}>Revoke</button>
          </li>
        ))}
      </ul>
      <ErrorBox error={revoke.error} title="Not revoked" />
      <form className="row-form" onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <label>Label<input value={label} onChange={(e) => setLabel(e.target.value)} /></label>
        <label>Your password<input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} /></label>
        <button type="submit" disabled={!label || !password || create.isPending}>Create token</button>
        <FieldError error={create.error} field={['label', 'password']} />
        <ErrorBox error={create.error} shownFields={['label', 'password']} title="No token" />
      </form>
    </section>
  );
}

function Plugins() {
  const q = useQuery({ queryKey: ['plugins'], queryFn: () => unwrap(api.GET('/api/v1/plugins')) });
  return (
    <section aria-labelledby="plg-h">
      <h2 id="plg-h">Installed plugins</h2>
      <ErrorBox error={q.error} title="Could not load plugins" />
      <table className="table">
        <thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Kind</th><th scope="col">State</th></tr></thead>
        <tbody>
          {(q.data ?? []).map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td><td>{p.version}</td><td>{p.kind}</td>
              <td>{p.error ? <span className="field-error">{p.error}</span> : !p.enabled ? 'disabled' : p.configured === false ? `not configured (${(p.missing_settings ?? []).join(', ')})` : 'enabled'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export default function SettingsPage() {
  const { wid, ws, tz } = useWorkspace();
  const isAdmin = atLeast(ws?.role, 'admin');
  return (
    <div className="settings">
      <h1>Settings</h1>
      <WorkspaceForm wid={wid} isAdmin={isAdmin} />
      <AiUsage wid={wid} />
      <Members wid={wid} role={ws?.role} />
      <Platforms wid={wid} isAdmin={isAdmin} />
      <Tokens tz={tz} />
      <Plugins />
    </div>
  );
}
