import { useEffect, useMemo, useRef, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useNavigate, useParams, useSearchParams } from 'react-router';
import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Post } from '../api/client';
import { unwrap } from '../api/errors';
import { useAccounts, usePlatforms } from '../data';
import { useWorkspace } from '../workspace';
import { atLeast } from '../auth';
import { checkContent, type Rules } from '../lib/checks';
import { uploadMedia, type Media } from '../lib/upload';
import { isoToWall, wallToIso, formatInZone } from '../lib/time';
import { ChecksCard } from '../components/Checks';
import { AiAssist } from '../components/AiAssist';
import { ErrorBox, FieldError } from '../components/ErrorText';

type When = 'draft' | 'schedule' | 'best' | 'queue' | 'now';
type NextBest = { account_id?: number; scheduled_at?: string; local_time?: string; explanation?: string; source?: string; time_zone?: string };
type Prediction = { available?: boolean; reason?: string; engagement_rate?: number; interval?: { low?: number; high?: number; coverage?: number }; engagements?: { expected?: number; low?: number; high?: number } };
interface FormValues { text: string; link: string; first_comment: string; when: When; at: string }
interface Uploading { name: string; progress: number; error?: unknown }

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

export default function ComposerPage() {
  const { wid, ws, tz } = useWorkspace();
  const { pid } = useParams();
  const [params] = useSearchParams();
  const editing = pid ? Number(pid) : null;
  const nav = useNavigate();
  const qc = useQueryClient();
  const accounts = useAccounts(wid);
  const platforms = usePlatforms();
  const presetAccount = params.get('account') ? Number(params.get('account')) : null;
  const presetAt = params.get('at');
  const { register, watch, handleSubmit, setValue, reset } = useForm<FormValues>({
    defaultValues: { text: '', link: '', first_comment: '', when: presetAt ? 'schedule' : 'draft', at: presetAt ? isoToWall(presetAt, tz) : '' },
  });
  const [selected, setSelected] = useState<number[]>(presetAccount ? [presetAccount] : []);
  const [overrides, setOverrides] = useState<Record<number, string | null>>({});
  const [thread, setThread] = useState<string[]>([]);
  const [media, setMedia] = useState<Media[]>([]);
  const [uploads, setUploads] = useState<Uploading[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<Post | null>(null);
  const [dragOver, setDragOver] = useState(false);
  const keyRef = useRef<string>(newKey());
  const busyRef = useRef(false);

  const existing = useQuery({
    queryKey: ['post', wid, editing],
    queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/posts/{pid}', { params: { path: { wid, pid: editing! } } })) as Promise<Post>,
    enabled: editing != null,
  });
  useEffect(() => {
    const p = existing.data;
    if (!p) return;
    reset({ text: p.text ?? '', link: p.link ?? '', first_comment: p.first_comment ?? '', when: p.scheduled_at ? 'schedule' : 'draft', at: p.scheduled_at ? isoToWall(p.scheduled_at, tz) : '' });
    setSelected(p.targets.map((t) => t.account_id));
    setOverrides(Object.fromEntries(p.targets.filter((t) => t.text_override != null).map((t) => [t.account_id, t.text_override])));
    setThread(p.thread ?? []);
    Promise.all(p.media_ids.map((mid) => unwrap(api.GET('/api/v1/workspaces/{wid}/media/{mid}', { params: { path: { wid, mid } } })))).then(
      (ms) => setMedia(ms as Media[]),
      setError,
    );
  }, [existing.data, reset, tz, wid]);

  const values = watch();
  // new content, new key: a double click (same content) sends the same key and makes one post
  useEffect(() => {
    keyRef.current = newKey();
  }, [values.text, values.link, values.first_comment, values.when, values.at, selected, overrides, thread, media]);

  const rulesOf = (platform: string): Rules => (platforms.data?.find((p) => p.name === platform)?.rules ?? {}) as Rules;
  const connected = (accounts.data ?? []).filter((a) => a.status !== 'disabled');
  const chosen = connected.filter((a) => selected.includes(a.id!));
  const threadAllowed = chosen.some((a) => (rulesOf(a.platform!).max_thread ?? 0) > 0);
  const mediaInfo = media.map((m) => ({ kind: m.kind ?? 'image', content_type: m.content_type ?? '' }));
  const checks = chosen.map((a) => ({
    account: a,
    content: { text: overrides[a.id!] ?? values.text, media: mediaInfo, link: values.link, thread, firstComment: values.first_comment },
  }));
  const allOk = chosen.length > 0 && checks.every((c) => checkContent(c.account.platform!, rulesOf(c.account.platform!), c.content).ok);

  const nextSlots = useQueries({
    queries: chosen.map((a) => ({
      queryKey: ['slots', wid, a.id],
      queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/accounts/{aid}/slots', { params: { path: { wid, aid: a.id! } } })),
      enabled: values.when === 'queue',
    })),
  });

  // "Best time": the API's best free time of each chosen account; the first account's fills the time.
  const nextBest = useQueries({
    queries: chosen.map((a) => ({
      queryKey: ['next-best', wid, a.id],
      queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/accounts/{aid}/next-best', { params: { path: { wid, aid: a.id! } } })) as Promise<NextBest>,
      enabled: values.when === 'best',
      retry: false,
    })),
  });
  const bestAt = values.when === 'best' ? nextBest[0]?.data?.scheduled_at : undefined;
  useEffect(() => {
    if (bestAt) setValue('at', isoToWall(bestAt, tz));
  }, [bestAt, setValue, tz]);
  const [prediction, setPrediction] = useState<{ loading?: boolean; data?: Prediction; error?: unknown } | null>(null);
  const predict = async () => {
    const a = chosen[0];
    const iso = wallToIso(values.at, tz);
    if (!a || !iso) return;
    setPrediction({ loading: true });
    try {
      const kinds = media.map((m) => (m.content_type ?? '').startsWith('video') ? 'video' : 'image');
      const media_kind = kinds.includes('video') ? 'video' : kinds.length > 1 ? 'images' : kinds.length === 1 ? 'image' : 'none';
      const data = (await unwrap(api.POST('/api/v1/workspaces/{wid}/accounts/{aid}/predict', {
        params: { path: { wid, aid: a.id! } },
        body: { scheduled_at: iso, text: overrides[a.id!] ?? values.text, link: !!values.link, media_kind },
      }))) as Prediction;
      setPrediction({ data });
    } catch (e) {
      setPrediction({ error: e });
    }
  };

  const toggle = (id: number) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  const addFiles = (files: FileList | File[]) => {
    for (const f of Array.from(files)) {
      const idx = uploads.length;
      setUploads((u) => [...u, { name: f.name, progress: 0 }]);
      uploadMedia(wid, f, (p) => setUploads((u) => u.map((x, i) => (i === idx ? { ...x, progress: p } : x)))).then(
        (m) => {
          setMedia((ms) => [...ms, m]);
          setUploads((u) => u.map((x, i) => (i === idx ? { ...x, progress: 1 } : x)));
        },
        (e) => setUploads((u) => u.map((x, i) => (i === idx ? { ...x, error: e } : x))),
      );
    }
  };

  const onSubmit = handleSubmit(async (v) => {
    if (busyRef.current) return; // the key also makes a second click harmless server-side
    busyRef.current = true;
    setBusy(true);
    setError(null);
    setDone(null);
    const body: Record<string, unknown> = {
      account_ids: selected,
      text: v.text,
      media_ids: media.map((m) => m.id),
      link: v.link || null,
      first_comment: v.first_comment || null,
      thread: threadAllowed ? thread.filter((t) => t.trim()) : [],
      overrides: Object.fromEntries(Object.entries(overrides).filter(([k]) => selected.includes(Number(k))).map(([k, t]) => [k, { text: t }])),
    };
    if (v.when === 'schedule' || v.when === 'best') {
      const iso = wallToIso(v.at, tz);
      if (!iso) {
        setError(new (await import('../api/errors')).ApiError(422, 'Pick a date and time to schedule.', { scheduled_at: ['Pick a date and time.'] }));
        busyRef.current = false;
        setBusy(false);
        return;
      }
      body.scheduled_at = iso;
    } else if (v.when === 'queue') body.queue = true;
    else if (v.when === 'now') body.publish_now = true;
    else body.scheduled_at = null;
    try {
      let post: Post;
      if (editing != null) {
        post = (await unwrap(api.PATCH('/api/v1/workspaces/{wid}/posts/{pid}', { params: { path: { wid, pid: editing } }, body: body as never }))) as Post;
      } else {
        if (body.scheduled_at === null) delete body.scheduled_at;
        post = (await unwrap(
          api.POST('/api/v1/workspaces/{wid}/posts', {
            params: { path: { wid }, header: { 'Idempotency-Key': keyRef.current } },
            body: body as never,
          }),
        )) as Post;
      }
      setDone(post);
      void qc.invalidateQueries({ queryKey: ['posts', wid] });
      void qc.invalidateQueries({ queryKey: ['post', wid, post.id] });
    } catch (e) {
      setError(e);
    } finally {
      busyRef.current = false;
      setBusy(false);
    }
  });

  const aiPlatforms = useMemo(() => Array.from(new Set(chosen.map((a) => a.platform!))), [chosen]);
  if (!atLeast(ws?.role, 'editor')) return <p>Your role in this workspace ({ws?.role}) cannot write posts.</p>;

  return (
    <form className="composer" onSubmit={onSubmit} noValidate aria-label="Composer">
      <h1>{editing ? `Edit post ${editing}` : 'Compose'}</h1>
      <ErrorBox error={existing.error} title="Could not load the post" />
      <fieldset>
        <legend>Accounts</legend>
        {accounts.isLoading && <p>Loading accounts…</p>}
        <ErrorBox error={accounts.error} title="Could not load accounts" />
        {!accounts.isLoading && connected.length === 0 && <p>No accounts yet: connect one on the Accounts page.</p>}
        <div className="account-picks">
          {connected.map((a) => (
            <label key={a.id} className="inline pick">
              <input type="checkbox" checked={selected.includes(a.id!)} onChange={() => toggle(a.id!)} />
              <span className={`chip platform-${a.platform}`}>{a.platform}</span> {a.display_name || a.username}
              {a.status === 'needs_reconnect' && <span className="warn"> (needs reconnecting)</span>}
            </label>
          ))}
        </div>
        <FieldError error={error} field="account_ids" />
      </fieldset>

      <label>
        Text
        <textarea rows={6} {...register('text')} aria-describedby="text-error" />
      </label>
      <FieldError error={error} field="text" id="text-error" />
      <AiAssist wid={wid} platforms={aiPlatforms} text={values.text} onUse={(t) => setValue('text', t, { shouldDirty: true })} />

      {chosen.length > 0 && (
        <section aria-label="Checks per account" className="checks-list">
          {checks.map(({ account: a, content }) => (
            <div key={a.id}>
              <ChecksCard
                platform={a.platform!}
                label={a.display_name || a.username || ''}
                rules={rulesOf(a.platform!)}
                content={content}
                serverError={<FieldError error={error} field={[`targets.${a.id}`, `overrides.${a.id}`]} />}
              />
              {overrides[a.id!] == null ? (
                <button type="button" className="link-button" onClick={() => setOverrides((o) => ({ ...o, [a.id!]: values.text }))}>
                  Customise text for {a.display_name || a.username}
                </button>
              ) : (
                <div className="override">
                  <label>
                    Text for {a.display_name || a.username} ({a.platform})
                    <textarea rows={3} value={overrides[a.id!] ?? ''} onChange={(e) => setOverrides((o) => ({ ...o, [a.id!]: e.target.value }))} />
                  </label>
                  <button type="button" className="link-button" onClick={() => setOverrides((o) => { const n = { ...o }; delete n[a.id!]; return n; })}>
                    Use the main text
                  </button>
                </div>
              )}
              <div className={`preview platform-${a.platform}`} aria-label={`Preview on ${a.platform}`}>
                <div className="preview-head">{a.display_name} {a.username ? `@${a.username}` : ''}</div>
                <div className="preview-text">{content.text}{values.link ? `\n${values.link}` : ''}</div>
                {media.length > 0 && <div className="preview-media">{media.length} media</div>}
                {threadAllowed && thread.filter((t) => t.trim()).map((t, i) => <div key={i} className="preview-thread">↳ {t}</div>)}
              </div>
            </div>
          ))}
        </section>
      )}

      {threadAllowed && (
        <fieldset>
          <legend>Thread (X)</legend>
          {thread.map((t, i) => (
            <div key={i} className="thread-item">
              <label>
                Post {i + 2}
                <textarea rows={2} value={t} onChange={(e) => setThread((th) => th.map((x, j) => (j === i ? e.target.value : x)))} />
              </label>
              <button type="button" className="link-button" onClick={() => setThread((th) => th.filter((_, j) => j !== i))}>Remove</button>
            </div>
          ))}
          <button type="button" onClick={() => setThread((th) => [...th, ''])}>Add to thread</button>
          <FieldError error={error} field="thread" />
        </fieldset>
      )}

      <fieldset>
        <legend>Media</legend>
        <div
          className={`dropzone ${dragOver ? 'over' : ''}`}
          onDragOver={(e) => { e.preventDefault(); setDragOver(true); }}
          onDragLeave={() => setDragOver(false)}
          onDrop={(e) => { e.preventDefault(); setDragOver(false); addFiles(e.dataTransfer.files); }}
        >
          <p>Drop images or a video here, or</p>
          <label className="button">
            Choose files
            <input type="file" className="sr-only" multiple accept="image/*,video/mp4,video/quicktime" onChange={(e) => e.target.files && addFiles(e.target.files)} />
          </label>
        </div>
        {uploads.map((u, i) => (
          <div key={i} className="upload">
            <span>{u.name}</span>{' '}
            <progress max={1} value={u.progress} aria-label={`Upload of ${u.name}`} />
            <ErrorBox error={u.error} title={`${u.name} was not uploaded`} />
          </div>
        ))}
        <ul className="media-list">
          {media.map((m) => (
            <li key={m.id}>
              {m.kind === 'video' ? <span>🎞 {m.original_name}</span> : <img src={m.url} alt={m.original_name ?? 'upload'} height={48} />}
              <button type="button" className="link-button" onClick={() => setMedia((ms) => ms.filter((x) => x.id !== m.id))}>Remove</button>
            </li>
          ))}
        </ul>
        <FieldError error={error} field="media_ids" />
      </fieldset>

      <label>
        Link
        <input type="url" {...register('link')} placeholder="https://" />
      </label>
      <FieldError error={error} field="link" />
      <label>
        First comment
        <textarea rows={2} {...register('first_comment')} />
      </label>
      <FieldError error={error} field="first_comment" />

      <fieldset>
        <legend>When</legend>
        <label className="inline"><input type="radio" value="draft" {...register('when')} /> Save as draft</label>
        <label className="inline"><input type="radio" value="schedule" {...register('when')} /> Schedule</label>
        <label className="inline"><input type="radio" value="best" {...register('when')} /> Best time</label>
        <label className="inline"><input type="radio" value="queue" {...register('when')} /> Next free slot</label>
        <label className="inline"><input type="radio" value="now" {...register('when')} /> Publish now</label>
        {values.when === 'schedule' && (
          <label>
            Date and time ({tz})
            <input type="datetime-local" step={1} {...register("at")} />
          </label>
        )}
        {values.when === 'best' && (
          <div data-testid="best-time">
            {chosen.length === 0 && <p className="muted">Choose an account to find its best time.</p>}
            <ul className="muted">
              {chosen.map((a, i) => {
                const q = nextBest[i];
                return (
                  <li key={a.id}>
                    {a.display_name || a.username}:{' '}
                    {q?.isLoading ? '…' : q?.data ? `${formatInZone(q.data.scheduled_at, tz)}: ${q.data.explanation ?? ''}` : null}
                    {q?.error ? <ErrorBox error={q.error} title="No best time" /> : null}
                  </li>
                );
              })}
            </ul>
            <label>
              Date and time ({tz}){chosen.length > 1 ? `, from ${chosen[0].display_name || chosen[0].username}'s best time` : ''}
              <input type="datetime-local" step={1} {...register('at')} />
            </label>
            <button type="button" onClick={predict} disabled={!chosen.length || !values.at || prediction?.loading}>Predict engagement</button>
            {prediction?.data && (
              <p data-testid="prediction">
                {prediction.data.available
                  ? `Expected engagement rate on ${chosen[0]?.display_name || chosen[0]?.username}: ${((prediction.data.engagement_rate ?? 0) * 100).toFixed(2)} % (${Math.round((prediction.data.interval?.coverage ?? 0.8) * 100)} % interval ${((prediction.data.interval?.low ?? 0) * 100).toFixed(2)}–${((prediction.data.interval?.high ?? 0) * 100).toFixed(2)} %)`
                  : `No prediction: ${prediction.data.reason ?? 'not enough history'}`}
              </p>
            )}
            <ErrorBox error={prediction?.error} title="Could not predict" />
          </div>
        )}
        {values.when === 'queue' && (
          <ul className="muted">
            {chosen.map((a, i) => {
              const s = nextSlots[i]?.data;
              return (
                <li key={a.id}>
                  {a.display_name || a.username}: {s ? (s.next_free_slot ? formatInZone(s.next_free_slot, tz) : 'no posting slots: set them on the Accounts page') : '…'}
                </li>
              );
            })}
          </ul>
        )}
        <FieldError error={error} field={['scheduled_at', 'queue', 'publish_now']} />
      </fieldset>

      <ErrorBox error={error} shownFields={['text', 'account_ids', 'media_ids', 'link', 'first_comment', 'thread', 'scheduled_at', 'queue', 'publish_now', 'targets', 'overrides']} title="Not saved" />
      {done && (
        <p className="notice" role="status">
          Saved post {done.id}: {done.status}
          {done.scheduled_at ? ` for ${formatInZone(done.scheduled_at, tz)}` : ''}.{' '}
          <a href={`/w/${wid}/calendar`} onClick={(e) => { e.preventDefault(); nav(`/w/${wid}/calendar`); }}>See it on the calendar</a>
        </p>
      )}
      <div className="actions sticky">
        <button type="submit" className="primary" disabled={busy || selected.length === 0}>
          {busy ? 'Saving…' : editing ? 'Save changes' : values.when === 'now' ? 'Publish now' : values.when === 'draft' ? 'Save draft' : 'Schedule'}
        </button>
        {!allOk && chosen.length > 0 && <span className="muted">Some checks fail: the server will say why if you send it.</span>}
      </div>
    </form>
  );
}
