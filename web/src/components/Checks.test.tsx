import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { ChecksCard } from './Checks';

function Harness({ platform, rules }: { platform: string; rules: object }) {
  const [text, setText] = useState('');
  return (
    <>
      <label>
        Text
        <textarea value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      <ChecksCard platform={platform} label="acct" rules={rules} content={{ text }} />
    </>
  );
}

describe('ChecksCard as you type', () => {
  it('counts X weighted length and flags 281', async () => {
    render(<Harness platform="twitter" rules={{ max_length: 280 }} />);
    const box = screen.getByLabelText('Text');
    await userEvent.click(box);
    await userEvent.paste('a'.repeat(280));
    expect(screen.getByTestId('counter-twitter')).toHaveTextContent('280 / 280');
    expect(screen.getByText(/Fits twitter's rules/)).toBeInTheDocument();
    await userEvent.type(box, 'b');
    expect(screen.getByTestId('counter-twitter')).toHaveTextContent('281 / 280');
    expect(screen.getByText(/281 characters: the limit is 280/)).toBeInTheDocument();
  });
  it('counts a URL as 23 on X', async () => {
    render(<Harness platform="twitter" rules={{ max_length: 280 }} />);
    await userEvent.click(screen.getByLabelText('Text'));
    await userEvent.paste('https://example.com/' + 'p'.repeat(60));
    expect(screen.getByTestId('counter-twitter')).toHaveTextContent('23 / 280');
  });
  it('says Instagram needs media', async () => {
    render(<Harness platform="instagram" rules={{ max_length: 2200, requires_media: true }} />);
    await userEvent.type(screen.getByLabelText('Text'), 'hello');
    expect(screen.getByText('Needs a photo or video')).toBeInTheDocument();
  });
  it('shows LinkedIn 3,000', async () => {
    render(<Harness platform="linkedin" rules={{ max_length: 3000 }} />);
    await userEvent.click(screen.getByLabelText('Text'));
    await userEvent.paste('x'.repeat(3001));
    expect(screen.getByTestId('counter-linkedin')).toHaveTextContent('3001 / 3,000');
    expect(screen.getByText(/3,001 characters: the limit is 3,000/)).toBeInTheDocument();
  });
});
