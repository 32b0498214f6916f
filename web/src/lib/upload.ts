// Media upload with progress: XMLHttpRequest (fetch reports no upload progress), same
// cookie session and CSRF header as the typed client.
import { csrfHeaders, type Schemas } from '../api/client';
import { ApiError, toApiError } from '../api/errors';

export type Media = Schemas['Media'];

export function uploadMedia(wid: number, file: File, onProgress: (fraction: number) => void): Promise<Media> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/workspaces/${wid}/media`);
    xhr.withCredentials = true;
    for (const [k, v] of Object.entries(csrfHeaders('POST'))) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as Media);
      } else reject(toApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload could not reach the server.'));
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}
