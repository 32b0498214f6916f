import { useMemo, useRef, useState } from 'react';
import FullCalendar from '@fullcalendar/react';
import dayGridPlugin from '@fullcalendar/daygrid';
import timeGridPlugin from '@fullcalendar/timegrid';
import listPlugin from '@fullcalendar/list';
import interactionPlugin from '@fullcalendar/interaction';
import luxonPlugin from '@fullcalendar/luxon3';
import type { DatesSetArg, EventDropArg, EventClickArg, EventContentArg } from '@fullcalendar/core';
import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, type Post } from '../api/client';
import { unwrap } from '../api/errors';
import { useAccounts, fetchPostsRange, usePlatforms } from '../data';
import { useWorkspace } from '../workspace';
import { atLeast } from '../auth';
import { applyDelta, displayStatus, matches, postTitle, STATUS_LABEL, toCalendarEvents, wallStart } from '../lib/calendar';
import { slotInstants } from '../lib/time';
import { useLive } from '../live';
import { ErrorBox } from '../components/ErrorText';
import { PostPanel } from '../components/PostPanel';

const STATUSES = ['draft', 'scheduled', 'publishing', 'published', 'partially_published', 'failed', 'held', 'canceled'];

export default function CalendarPage() {
  const { wid, ws, tz } = useWorkspace();
  const canEdit = atLeast(ws?.role, 'editor');
  const qc = useQueryClient();
  const [range, setRange] = useState<{ start: string; end: string } | null>(null);
  const [accountId, setAccountId] = useState<number | null>(null);
  const [platform, setPlatform] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [showSlots, setShowSlots] = useState(true);
  const [open, setOpen] = useState<number | null>(null);
  const [dropError, setDropError] = useState<{ postId: number; error: unknown } | null>(null);
  const [saved, setSaved] = useState<string>('');
  const calRef = useRef<FullCalendar>(null);
  const narrow = typeof window !== 'undefined' && window.innerWidth < 640;

  const live = useLive();
  const accounts = useAccounts(wid);
  const platforms = usePlatforms();
  const posts = useQuery({
    queryKey: ['posts', wid, range?.start, range?.end],
    queryFn: () => fetchPostsRange(wid, range!.start, range!.end),
    enabled: !!range,
    placeholderData: (prev) => prev,
    // the event stream updates the calendar at once; without it, poll
    refetchInterval: live ? false : 5_000,
  });
  // drafts without a time have no place on the grid: listed under it
  const drafts = useQuery({
    queryKey: ['posts', wid, 'drafts'],
    queryFn: async () => (await unwrap(api.GET('/api/v1/workspaces/{wid}/posts', { params: { path: { wid }, query: { status: ['draft'], limit: 50 } } }))).items.filter((p) => !p.scheduled_at),
  });
  const slotQueries = useQueries({
    queries: (accounts.data ?? [])
      .filter((a) => a.status === 'connected')
      .map((a) => ({
        queryKey: ['slots', wid, a.id],
        queryFn: () => unwrap(api.GET('/api/v1/workspaces/{wid}/accounts/{aid}/slots', { params: { path: { wid, aid: a.id! } } })),
        enabled: showSlots,
        staleTime: 60_000,
      })),
  });

  const accountList = accounts.data ?? [];
  const events = useMemo(() => {
    const evs: object[] = toCalendarEvents(posts.data ?? [], tz, accountList, { accountId, platform, status }, canEdit);
    if (showSlots && range && !status) {
      const taken = new Set((posts.data ?? []).flatMap((p) => p.targets.map((t) => `${t.account_id}@${p.scheduled_at && new Date(p.scheduled_at).getTime()}`)));
      for (const q of slotQueries) {
        const s = q.data;
        if (!s) continue;
        const a = accountList.find((x) => x.id === s.account_id);
        if (!a || (accountId && a.id !== accountId) || (platform && a.platform !== platform)) continue;
        for (const at of slotInstants(s.slots, range.start, range.end, tz)) {
          if (taken.has(`${a.id}@${new Date(at).getTime()}`) || new Date(at) < new Date()) continue;
          evs.push({
            id: `slot-${a.id}-${at}`,
            title: `Free slot · ${a.username ? '@' + a.username : a.display_name}`,
            start: wallStart(at, tz),
            editable: false,
            classNames: ['slot'],
            extendedProps: { kind: 'slot', accountId: a.id, at },
          });
        }
      }
    }
    return evs;
  }, [posts.data, tz, accountList, accountId, platform, status, canEdit, showSlots, range, slotQueries]);

  const onDatesSet = (arg: DatesSetArg) => {
    // FullCalendar's toolbar icons are role=img without a name; the buttons carry the name
    requestAnimationFrame(() =>
      document.querySelectorAll('.fc .fc-icon').forEach((el) => {
        el.removeAttribute('role');
        el.setAttribute('aria-hidden', 'true');
      }),
    );
    const start = arg.start.toISOString();
    const end = arg.end.toISOString();
    if (!range || range.start !== start || range.end !== end) setRange({ start, end });
  };

  const onDrop = async (info: EventDropArg) => {
    const props = info.event.extendedProps as { kind: string; post: Post };
    if (props.kind !== 'post' || !props.post.scheduled_at) return info.revert();
    const post = props.post;
    const next = applyDelta(post.scheduled_at!, info.delta, tz);
    setDropError(null);
    setSaved('');
    try {
      const updated = await unwrap(
        api.PATCH('/api/v1/workspaces/{wid}/posts/{pid}', { params: { path: { wid, pid: post.id } }, body: { scheduled_at: next } }),
      );
      qc.setQueriesData<Post[]>({ queryKey: ['posts', wid] }, (old) =>
        Array.isArray(old) ? old.map((p) => (p.id === post.id ? { ...p, ...(updated as Post) } : p)) : old,
      );
      setSaved(`Post ${post.id} moved to ${wallStart(next, tz).replace('T', ' ').slice(0, 16)} (${tz}).`);
      void qc.invalidateQueries({ queryKey: ['posts', wid] });
    } catch (e) {
      info.revert();
      setDropError({ postId: post.id, error: e });
    }
  };

  const onClick = (info: EventClickArg) => {
    const props = info.event.extendedProps as { kind: string; post?: Post; at?: string; accountId?: number };
    if (props.kind === 'post' && props.post) setOpen(props.post.id);
  };

  const renderEvent = (arg: EventContentArg) => {
    const props = arg.event.extendedProps as { kind: string; post?: Post };
    if (props.kind === 'slot') {
      const at = (arg.event.extendedProps as { at: string }).at;
      const aid = (arg.event.extendedProps as { accountId: number }).accountId;
      return canEdit ? (
        <Link className="slot-link" to={`/w/${wid}/compose?at=${encodeURIComponent(at)}&account=${aid}`}>
          {arg.timeText} {arg.event.title}
        </Link>
      ) : (
        <span>{arg.timeText} {arg.event.title}</span>
      );
    }
    const post = props.post!;
    const st = displayStatus(post);
    return (
      <button type="button" className="ev-body" data-post-id={post.id} data-status={st} onClick={() => setOpen(post.id)}>
        <span className="ev-time">{arg.timeText}</span>{' '}
        {Array.from(new Set(post.targets.map((t) => t.platform))).map((p) => (
          <span key={p} className={`dot platform-${p}`} aria-hidden="true" />
        ))}
        <span className="ev-status">{STATUS_LABEL[st] ?? st}</span> <span className="ev-title">{arg.event.title}</span>
      </button>
    );
  };

  return (
    <div className="calendar-page">
      <div className="page-head">
        <h1>Calendar</h1>
        <span className="muted">Times in {tz}</span>
        {canEdit && <Link className="button primary" to={`/w/${wid}/compose`}>Compose</Link>}
      </div>
      <div className="filters" role="group" aria-label="Filters">
        <label>
          Account
          <select value={accountId ?? ''} onChange={(e) => setAccountId(e.target.value ? Number(e.target.value) : null)}>
            <option value="">All accounts</option>
            {accountList.map((a) => (
              <option key={a.id} value={a.id}>{a.display_name || a.username} ({a.platform})</option>
            ))}
          </select>
        </label>
        <label>
          Platform
          <select value={platform ?? ''} onChange={(e) => setPlatform(e.target.value || null)}>
            <option value="">All platforms</option>
            {(platforms.data ?? []).map((p) => (
              <option key={p.name} value={p.name}>{p.display_name || p.name}</option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={status ?? ''} onChange={(e) => setStatus(e.target.value || null)}>
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>{STATUS_LABEL[s]}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={showSlots} onChange={(e) => setShowSlots(e.target.checked)} /> Free slots
        </label>
      </div>
      <ErrorBox error={posts.error} title="Could not load posts" />
      <ErrorBox error={accounts.error} title="Could not load accounts" />
      {dropError && <ErrorBox error={dropError.error} title={`Post ${dropError.postId} was not moved`} />}
      {saved && <p className="notice" role="status">{saved}</p>}
      <FullCalendar
        ref={calRef}
        plugins={[dayGridPlugin, timeGridPlugin, listPlugin, interactionPlugin, luxonPlugin]}
        timeZone={tz}
        initialView={narrow ? 'listWeek' : 'dayGridMonth'}
        headerToolbar={narrow ? { left: 'prev,next', center: 'title', right: 'dayGridMonth,listWeek' } : { left: 'prev,next today', center: 'title', right: 'dayGridMonth,timeGridWeek,listWeek' }}
        buttonText={{ today: 'Today', month: 'Month', week: 'Week', list: 'List' }}
        firstDay={1}
        height="auto"
        events={events}
        editable={canEdit}
        eventStartEditable={canEdit}
        eventDurationEditable={false}
        eventDrop={onDrop}
        eventClick={onClick}
        eventContent={renderEvent}
        datesSet={onDatesSet}
        dayMaxEvents={4}
        nowIndicator
        eventTimeFormat={{ hour: '2-digit', minute: '2-digit', hour12: false }}
      />
      <section aria-labelledby="drafts-h" className="drafts">
        <h2 id="drafts-h">Drafts without a time</h2>
        <ErrorBox error={drafts.error} title="Could not load drafts" />
        {drafts.data?.length === 0 && <p className="muted">None.</p>}
        <ul>
          {(drafts.data ?? []).filter((p) => matches(p, { accountId, platform, status })).map((p) => (
            <li key={p.id}>
              <button type="button" className="link-button" onClick={() => setOpen(p.id)}>{postTitle(p, accountList)}</button>
            </li>
          ))}
        </ul>
      </section>
      {open != null && (
        <PostPanel wid={wid} postId={open} tz={tz} accounts={accountList} canEdit={canEdit} onClose={() => setOpen(null)} />
      )}
    </div>
  );
}
