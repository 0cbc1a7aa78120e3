import { describe, expect, it } from 'vitest';
import { TOKEN_STORAGE_KEY, consumeTokenFromFragment, loadToken } from './token';

describe('consumeTokenFromFragment', () => {
  it('stores the token and removes it from the address bar, keeping path and query', () => {
    window.history.replaceState(null, '', '/sources?x=1#token=s3cret');
    expect(consumeTokenFromFragment()).toBe('s3cret');
    expect(window.location.hash).toBe('');
    expect(window.location.pathname + window.location.search).toBe('/sources?x=1');
    expect(window.localStorage.getItem(TOKEN_STORAGE_KEY)).toBe('s3cret');
    expect(loadToken()).toBe('s3cret');
  });

  it('leaves other fragments alone', () => {
    window.history.replaceState(null, '', '/#section');
    expect(consumeTokenFromFragment()).toBeNull();
    expect(window.location.hash).toBe('#section');
  });
});
