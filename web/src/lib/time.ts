// Times in the workspace's IANA zone (Luxon). The API takes and returns ISO 8601 with offsets.
import { DateTime } from 'luxon';

/** "2026-03-29T09:00" in `zone` -> ISO with offset (DST-aware), or null when invalid. */
export function wallToIso(local: string, zone: string): string | null {
  const dt = DateTime.fromISO(local, { zone });
  return dt.isValid ? dt.toISO({ suppressMilliseconds: true }) : null;
}

/** An ISO instant -> "2026-03-29T09:00" wall clock in `zone` (for <input type=datetime-local>). */
export function isoToWall(iso: string, zone: string): string {
  return DateTime.fromISO(iso, { setZone: false }).setZone(zone).toFormat("yyyy-LL-dd'T'HH:mm");
}

/** The calendar day (yyyy-mm-dd) of an instant in a zone. */
export function dayInZone(iso: string, zone: string): string {
  return DateTime.fromISO(iso).setZone(zone).toISODate() ?? '';
}

export function formatInZone(iso: string | null | undefined, zone: string): string {
  if (!iso) return '';
  return DateTime.fromISO(iso).setZone(zone).toFormat('ccc d LLL yyyy, HH:mm ZZZZ');
}

/** Moves an instant by whole days in `zone`, keeping the wall-clock time (DST-aware). */
export function moveDays(iso: string, days: number, zone: string): string {
  return DateTime.fromISO(iso).setZone(zone).plus({ days }).toUTC().toISO({ suppressMilliseconds: true })!;
}

/** Posting slots (weekday 0 = Monday, HH:MM wall clock) -> instants within [start, end). */
export function slotInstants(slots: { weekday: number; time: string }[], start: string, end: string, zone: string): string[] {
  const out: string[] = [];
  let day = DateTime.fromISO(start).setZone(zone).startOf('day');
  const stop = DateTime.fromISO(end).setZone(zone);
  for (let i = 0; i < 62 && day < stop; i++, day = day.plus({ days: 1 })) {
    for (const s of slots) {
      if (s.weekday !== day.weekday - 1) continue;
      const [h, m] = s.time.split(':').map(Number);
      const at = day.set({ hour: h, minute: m });
      if (at >= DateTime.fromISO(start) && at < stop) out.push(at.toUTC().toISO({ suppressMilliseconds: true })!);
    }
  }
  return out;
}
