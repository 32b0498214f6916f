// AI assist: draft from a brief, rewrite for a platform, hashtags. Each answer names its
// provider, model and cost.
import { useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { ErrorBox } from './ErrorText';

interface Meta { provider: string; model: string; cost_usd: number; cached?: boolean; offline?: boolean; notice?: string | null }

function Provenance({ m }: { m: Meta }) {
  return (
    <p className="muted provenance" data-testid="ai-provenance">
      {m.provider} · {m.model} · ${m.cost_usd.toFixed(4)}{m.cached ? ' (cached)' : ''}{m.offline ? ' · offline templates' : ''}
      {m.notice ? ` · ${m.notice}` : ''}
    </p>
  );
}

export function AiAssist({ wid, platforms, text, onUse }: { wid: number; platforms: string[]; text: string; onUse: (t: string) => void }) {
  const [brief, setBrief] = useState('');
  const target = platforms[0] ?? 'twitter';
  const drafts = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/workspaces/{wid}/ai/drafts', { params: { path: { wid } }, body: { brief, platforms: platforms.length ? platforms : [target], variants: 1 } })),
  });
  const rewrite = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/workspaces/{wid}/ai/rewrite', { params: { path: { wid } }, body: { text, platform: target } })),
  });
  const tags = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/workspaces/{wid}/ai/hashtags', { params: { path: { wid } }, body: { text, platform: target } })),
  });
  return (
    <details className="ai">
      <summary>AI assist</summary>
      <label>
        Brief
        <textarea rows={2} value={brief} onChange={(e) => setBrief(e.target.value)} placeholder="What should the post say?" />
      </label>
      <div className="actions">
        <button type="button" onClick={() => drafts.mutate()} disabled={!brief.trim() || drafts.isPending}>Draft from brief</button>
        <button type="button" onClick={() => rewrite.mutate()} disabled={!text.trim() || rewrite.isPending}>Rewrite for {target}</button>
        <button type="button" onClick={() => tags.mutate()} disabled={!text.trim() || tags.isPending}>Suggest hashtags</button>
      </div>
      <ErrorBox error={drafts.error} title="Draft failed" />
      <ErrorBox error={rewrite.error} title="Rewrite failed" />
      <ErrorBox error={tags.error} title="Hashtags failed" />
      {drafts.data && (
        <div className="ai-result">
          <Provenance m={drafts.data} />
          {drafts.data.drafts.map((d, i) => (
            <div key={i} className="ai-draft">
              <p><span className={`chip platform-${d.platform}`}>{d.platform}</span> {d.text}</p>
              {!d.fits_rules && <p className="field-error">{d.problems.join('; ')}</p>}
              <button type="button" onClick={() => onUse(d.text)}>Use this draft</button>
            </div>
          ))}
        </div>
      )}
      {rewrite.data && (
        <div className="ai-result">
          <Provenance m={rewrite.data} />
          <p>{rewrite.data.text}</p>
          <button type="button" onClick={() => onUse(rewrite.data.text)}>Use rewrite</button>
        </div>
      )}
      {tags.data && (
        <div className="ai-result">
          <Provenance m={tags.data} />
          <p>{tags.data.hashtags.join(' ')}</p>
          <button type="button" onClick={() => onUse(`${text.trimEnd()} ${tags.data.hashtags.join(' ')}`)}>Add hashtags</button>
        </div>
      )}
    </details>
  );
}
