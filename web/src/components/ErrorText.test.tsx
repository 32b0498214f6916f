import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ErrorBox, FieldError } from './ErrorText';
import { toApiError, unwrap, ApiError, flattenErrors } from '../api/errors';

describe('API error display', () => {
  const err = toApiError(422, {
    code: 422, status: 'Unprocessable Entity',
    message: 'account 1 (twitter) breaks rule max_length: text is 281 characters; X (Twitter) allows 280',
    errors: { targets: { '1': [{ message: 'text is 281 characters; X (Twitter) allows 280', rule: 'max_length' }] } },
  });
  it('flattens field errors by location', () => {
    expect(flattenErrors({ json: { scheduled_at: ['Not a valid datetime.'] } })).toEqual({ scheduled_at: ['Not a valid datetime.'] });
    expect(err.field('targets.1')).toEqual(['text is 281 characters; X (Twitter) allows 280']);
  });
  it('shows the field message next to the field', () => {
    render(<FieldError error={err} field="targets.1" />);
    expect(screen.getByRole('alert')).toHaveTextContent('text is 281 characters; X (Twitter) allows 280');
  });
  it('shows nothing for a field without errors', () => {
    const { container } = render(<FieldError error={err} field="text" />);
    expect(container).toBeEmptyDOMElement();
  });
  it('shows the message and the fields not shown elsewhere', () => {
    render(<ErrorBox error={err} title="Not saved" />);
    const box = screen.getByRole('alert');
    expect(box).toHaveTextContent('Not saved: account 1 (twitter) breaks rule max_length');
    expect(box).toHaveTextContent('targets.1');
  });
  it('leaves out fields shown elsewhere', () => {
    render(<ErrorBox error={err} shownFields={['targets']} />);
    expect(screen.getByRole('alert')).not.toHaveTextContent('targets.1');
  });
  it('words an error without a body', () => {
    expect(toApiError(502, null).message).toBe('The server answered 502.');
    render(<ErrorBox error={toApiError(0, null)} />);
    expect(screen.getByRole('alert')).toHaveTextContent('could not be reached');
  });
  it('unwrap turns a failed response into an ApiError with the API message', async () => {
    const response = new Response('{}', { status: 403 });
    await expect(unwrap(Promise.resolve({ error: { message: 'your role (viewer) cannot do this' }, response }))).rejects.toMatchObject({
      status: 403, message: 'your role (viewer) cannot do this',
    });
    await expect(unwrap(Promise.reject(new TypeError('Failed to fetch')))).rejects.toBeInstanceOf(ApiError);
  });
});
