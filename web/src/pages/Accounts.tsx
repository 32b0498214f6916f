import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useLocation } from 'react-router';
import { api, type Account } from '../api/client';
import { unwrap } from '../api/errors';
import { useAccounts, usePlatforms } from '../data';
import { useWorkspace } from '../workspace';
import { atLeast } from '../auth';
import { formatInZone } from '../lib/time';
import { ErrorBox, FieldError } from '../components/ErrorText';

export const CONNECT_KEY = 'clientnest.connect';
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Starts the OAuth flow: the platform (the sandbox here) sends the browser back to /oauth/{platform}/return. */
export async function startConnect(wid: number, platform: string): Promise<void> {
  const redirect_uri = `${window.location.origin}/oauth/${platform}/return`;
  const start = await unwrap(api.POST('/api/v1/workspaces/{wid}/accounts/connect', { params: { path: { wid } }, body: { platform, redirect_uri } }));
  sessionStorage.setItem(CONNECT_KEY, JSON.stringify({ wid, platform }));
  window.location.assign(start.authorization_url!);
}

function SlotsEditor({ wid, account, tz, canEdit }: { wid: number; account: Account; tz: string; canEdit: boolean }) {
  const qc = useQueryClient();
  const q = useQuery({
    queryKey: ['slots', wid, account.id],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/accounts/{aid}/slots', { params: { path: { wid, aid: account.id! } } })),
  });
  const [slots, setSlots] = useState<{ weekday: number; time: string }[]>([]);
  useEffect(() => {
    if (q.data) setSlots(q.data.slots);
  }, [q.data]);
  const save = useMutation({
    mutationFn: () => unwrap(api.PUT('/api/v1/workspaces/{wid}/accounts/{aid}/slots', { params: { path: { wid, aid: account.id! } }, body: { slots } })),
    onSuccess: (d) => qc.setQueryData(['slots', wid, account.id], d),
  });
  return (
    <details className="slots">
      <summary>Posting slots ({q.data?.slots.length ?? '…'})</summary>
      <ErrorBox error={q.error} title="Could not load slots" />
      {q.data?.next_free_slot && <p className="muted">Next free slot: {formatInZone(q.data.next_free_slot, tz)}</p>}
      <p className="muted">Wall-clock times in {tz}.</p>
      <ul>
        {slots.map((s, i) => (
          <li key={i} className="slot-row">
            <label>
              Day
              <select disabled={!canEdit} value={s.weekday} onChange={(e) => setSlots((x) => x.map((y, j) => (j === i ? { ...y, weekday: Number(e.target.value) } : y)))}>
                {DAYS.map((d, n) => <option key={d} value={n}>{d}</option>)}
              </select>
            </label>
            <label>
              Time
              <input type="time" disabled={!canEdit} value={s.time} onChange={(e) => setSlots((x) => x.map((y, j) => (j === i ? { ...y, time: e.target.value } : y)))} />
            </label>
            {canEdit && <button type="button" className="link-button" onClick={() => setSlots((x) => x.filter((_, j) => j !== i))}>Remove</button>}
            <FieldError error={save.error} field={`slots.${i}`} />
          </li>
        ))}
      </ul>
      {canEdit && (
        <div className="actions">
          <button type="button" onClick={() => setSlots((x) => [...x, { weekday: 0, time: '09:00' }])}>Add slot</button>
          <button type="button" className="primary" onClick={() => save.mutate()} disabled={save.isPending}>Save slots</button>
          {save.isSuccess && <span role="status">Saved.</span>}
        </div>
      )}
      <ErrorBox error={save.error} shownFields={['slots']} title="Slots not saved" />
    </details>
  );
}

export default function AccountsPage() {
  const { wid, ws, tz } = useWorkspace();
  const isAdmin = atLeast(ws?.role, 'admin');
  const canEdit = atLeast(ws?.role, 'editor');
  const qc = useQueryClient();
  const loc = useLocation();
  const accounts = useAccounts(wid);
  const platforms = usePlatforms();
  const enabled = useQuery({
    queryKey: ['ws-platforms', wid],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/platforms', { params: { path: { wid } } })),
  });
  const [connectError, setConnectError] = useState<{ platform: string; error: unknown } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const connect = async (platform: string) => {
    setConnectError(null);
    setBusy(platform);
    try {
      await startConnect(wid, platform);
    } catch (e) {
      setConnectError({ platform, error: e });
      setBusy(null);
    }
  };
  const remove = useMutation({
    mutationFn: (aid: number) => unwrap(api.DELETE('/api/v1/workspaces/{wid}/accounts/{aid}', { params: { path: { wid, aid } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['accounts', wid] }),
  });
  const notice = (loc.state as { notice?: string } | null)?.notice;
  const onFor = (name: string) => (enabled.data as { name: string; enabled: boolean }[] | undefined)?.find((p) => p.name === name)?.enabled ?? true;
  return (
    <div>
      <h1>Accounts</h1>
      {notice && <p className="notice" role="status">{notice}</p>}
      <ErrorBox error={accounts.error} title="Could not load accounts" />
      <ul className="accounts">
        {(accounts.data ?? []).map((a) => (
          <li key={a.id} className={`account status-${a.status}`}>
            <div className="account-head">
              <span className={`chip platform-${a.platform}`}>{a.platform}</span>
              <strong>{a.display_name}</strong> {a.username && <span className="muted">@{a.username}</span>}
              <span className={`badge acc-${a.status}`}>{a.status === 'needs_reconnect' ? 'needs reconnecting' : a.status}</span>
            </div>
            {a.status_reason && <p className="warn">{a.status_reason}</p>}
            {a.token_expires_at && <p className="muted">Token valid until {formatInZone(a.token_expires_at, tz)}</p>}
            {isAdmin && (
              <div className="actions">
                <button type="button" onClick={() => connect(a.platform!)} disabled={busy === a.platform}>Reconnect</button>
                <button
                  type="button"
                  className="danger"
                  onClick={() => window.confirm(`Disconnect ${a.display_name}? Its scheduled posts to it go too.`) && remove.mutate(a.id!)}
                  disabled={remove.isPending}
                >
                  Disconnect
                </button>
              </div>
            )}
            {remove.error && remove.variables === a.id ? <ErrorBox error={remove.error} title="Not disconnected" /> : null}
            <SlotsEditor wid={wid} account={a} tz={tz} canEdit={canEdit} />
          </li>
        ))}
      </ul>
      {accounts.data?.length === 0 && <p>No accounts yet.</p>}
      {isAdmin && (
        <section aria-label="Connect an account">
          <h2>Connect an account</h2>
          <ErrorBox error={platforms.error} title="Could not load platforms" />
          <div className="connect-buttons">
            {(platforms.data ?? []).map((p) => (
              <div key={p.name}>
                <button type="button" className={`connect platform-${p.name}`} onClick={() => connect(p.name!)} disabled={busy === p.name || !onFor(p.name!)}>
                  Connect {p.display_name || p.name}
                </button>
                {!onFor(p.name!) && <span className="muted"> off for this workspace</span>}
                {connectError && connectError.platform === p.name && <ErrorBox error={connectError.error} title={`Could not connect ${p.display_name}`} />}
              </div>
            ))}
          </div>
        </section>
      )}
    </div>
  );
}
