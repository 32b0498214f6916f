import { ApiError } from '../api/errors';

/** The API's words for one field, shown next to that field. */
export function FieldError({ error, field, id }: { error: unknown; field: string | string[]; id?: string }) {
  if (!(error instanceof ApiError)) return null;
  const names = Array.isArray(field) ? field : [field];
  const msgs = names.flatMap((n) =>
    Object.entries(error.fields)
      .filter(([k]) => k === n || k.startsWith(n + '.'))
      .flatMap(([, v]) => v),
  );
  if (!msgs.length) return null;
  return (
    <p className="field-error" role="alert" id={id}>
      {msgs.join(' ')}
    </p>
  );
}

/** The API's message for a whole request (and any field errors not shown elsewhere). */
export function ErrorBox({ error, shownFields = [], title }: { error: unknown; shownFields?: string[]; title?: string }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div className="error-box" role="alert">
        {title ? <strong>{title}: </strong> : null}
        {error instanceof Error ? error.message : String(error)}
      </div>
    );
  }
  const rest = Object.entries(error.fields).filter(
    ([k]) => !shownFields.some((f) => k === f || k.startsWith(f + '.')),
  );
  return (
    <div className="error-box" role="alert">
      {title ? <strong>{title}: </strong> : null}
      <span>{error.message}</span>
      {rest.length > 0 && (
        <ul>
          {rest.map(([k, v]) => (
            <li key={k}>
              {k === '_' ? '' : <code>{k}</code>} {v.join(' ')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
