import { useParams } from 'react-router';
import { useAuth } from './auth';
import type { WorkspaceBrief } from './api/client';

/** The workspace named in the URL (/w/:wid/...), with the caller's role and its time zone. */
export function useWorkspace(): { wid: number; ws: WorkspaceBrief | undefined; tz: string } {
  const { wid } = useParams();
  const { workspaces } = useAuth();
  const id = Number(wid);
  const ws = workspaces.find((w) => w.id === id);
  return { wid: id, ws, tz: ws?.timezone || 'UTC' };
}
