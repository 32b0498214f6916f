// API errors as words: the API answers {code, status, message, errors?}; errors maps a
// location ("json", "query", "form") to fields and their messages (strings or {rule, message}).

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  readonly status: number;
  readonly fields: FieldErrors;
  readonly body: unknown;
  constructor(status: number, message: string, fields: FieldErrors = {}, body: unknown = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields;
    this.body = body;
  }
  /** Messages for one field (dotted path, e.g. "scheduled_at" or "targets.3"). */
  field(name: string): string[] {
    return this.fields[name] ?? [];
  }
}

function messagesOf(v: unknown): string[] {
  if (v == null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(messagesOf);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.message === 'string') return [o.message];
    return Object.entries(o).flatMap(([k, x]) => messagesOf(x).map((m) => `${k}: ${m}`));
  }
  return [String(v)];
}

/** Flattens {json: {text: ["..."], overrides: {"3": {text: [...]}}}} to {"text": [...], "overrides.3.text": [...]}. */
export function flattenErrors(errors: unknown): FieldErrors {
  const out: FieldErrors = {};
  const walk = (v: unknown, path: string[]) => {
    if (v == null) return;
    if (typeof v === 'string' || Array.isArray(v) || (typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string')) {
      const key = path.join('.') || '_';
      out[key] = [...(out[key] ?? []), ...messagesOf(v)];
      return;
    }
    if (typeof v === 'object') for (const [k, x] of Object.entries(v as object)) walk(x, [...path, k]);
  };
  if (errors && typeof errors === 'object') {
    for (const [loc, v] of Object.entries(errors as object)) {
      // drop the location level (json/query/form/headers) when it is one
      if (['json', 'query', 'form', 'files', 'headers', 'path', 'view_args'].includes(loc)) walk(v, []);
      else walk(v, [loc]);
    }
  }
  return out;
}

export function toApiError(status: number, body: unknown): ApiError {
  const b = (body ?? {}) as { message?: unknown; errors?: unknown; status?: unknown };
  const message =
    typeof b.message === 'string' && b.message
      ? b.message
      : status === 0
        ? 'The server could not be reached. Check your connection and try again.'
        : `The server answered ${status}${typeof b.status === 'string' ? ' ' + b.status : ''}.`;
  return new ApiError(status, message, flattenErrors(b.errors), body);
}

/** Unwraps an openapi-fetch result: the data, or an ApiError with the API's own words. */
export async function unwrap<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response };
  try {
    r = await p;
  } catch (e) {
    throw new ApiError(0, `The server could not be reached (${(e as Error).message}).`);
  }
  if (!r.response.ok) throw toApiError(r.response.status, r.error);
  return r.data as T;
}
