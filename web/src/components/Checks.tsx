// The per-account counter and checks shown under the composer as you type.
import { checkContent, type Content, type Rules } from '../lib/checks';

export function ChecksCard({ platform, label, rules, content, serverError }: {
  platform: string; label: string; rules: Rules; content: Content; serverError?: React.ReactNode;
}) {
  const r = checkContent(platform, rules, content);
  const over = r.max != null && r.length > r.max;
  return (
    <div className={`checks ${r.ok ? 'ok' : 'bad'}`} data-testid={`checks-${platform}`} aria-live="polite">
      <div className="checks-head">
        <span className={`chip platform-${platform}`}>{platform}</span> <span>{label}</span>
        <span className={`counter ${over ? 'over' : ''}`} data-testid={`counter-${platform}`}>
          {r.length}
          {r.max != null ? ` / ${r.max.toLocaleString('en-US')}` : ''}
        </span>
      </div>
      {r.problems.length > 0 ? (
        <ul className="problems">
          {r.problems.map((p) => (
            <li key={p} className="field-error">{p}</li>
          ))}
        </ul>
      ) : (
        <p className="ok-text">Fits {platform}'s rules</p>
      )}
      {serverError}
    </div>
  );
}
