import { useEffect, useRef, useState } from 'react';
import { useApi } from '../../../api/ApiContext';
import { errorMessage } from '../../../api/errors';
import type { Preview, PreviewInput } from '../../../api/types';

interface Props {
  /** What to preview; `null` when the form cannot be previewed yet (no URL, a mapping that is not JSON). */
  input: PreviewInput | null;
  /** Preview again this long after the input last changed (the daemon reuses the body for a minute). */
  refreshMs?: number;
}

/** Fields shown in the coverage table, as the stored job names them. */
const COVERAGE: readonly [string, string][] = [
  ['title', 'Title'],
  ['company', 'Company'],
  ['locations', 'Locations'],
  ['employmentType', 'Employment type'],
  ['categories', 'Categories'],
  ['descriptionHtml', 'Description'],
  ['url', 'URL'],
  ['datePosted', 'Date posted'],
  ['salary', 'Salary'],
  ['logoUrl', 'Logo'],
  ['validThrough', 'Valid through'],
];

/**
 * "Test": what an import of the form's URL would give, written nowhere. After the first test it
 * refreshes by itself whenever the input changes (a mapping being edited).
 */
export function MappingPreview({ input, refreshMs = 700 }: Props) {
  const api = useApi();
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [live, setLive] = useState(false);
  const key = input ? JSON.stringify(input) : null;
  const seq = useRef(0);

  const run = async (req: PreviewInput) => {
    const mine = ++seq.current;
    setBusy(true);
    try {
      const p = await api.preview(req);
      if (mine !== seq.current) return;
      setPreview(p);
      setError(null);
    } catch (err) {
      if (mine !== seq.current) return;
      setError(errorMessage(err));
    } finally {
      if (mine === seq.current) setBusy(false);
    }
  };

  useEffect(() => {
    if (!live || !key) return;
    const t = setTimeout(() => void run(JSON.parse(key) as PreviewInput), refreshMs);
    return () => clearTimeout(t);
    // `run` reads only refs and setters.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, live, refreshMs]);

  const jobs = preview ? preview.items - preview.failureCount : 0;
  return (
    <section className="preview" aria-label="Preview" data-testid="mapping-preview">
      <div className="form__actions">
        <button
          type="button"
          className="btn"
          disabled={!input || busy}
          onClick={() => {
            setLive(true);
            if (input) void run(input);
          }}
        >
          {busy ? 'Testing…' : 'Test'}
        </button>
        <span className="field__hint">Fetches the URL and shows what an import would give; nothing is saved.</span>
      </div>
      {error ? (
        <div className="alert alert--error" role="alert" data-testid="preview-error">
          {error}
        </div>
      ) : null}
      {preview ? (
        <div data-testid="preview-result" data-items={preview.items}>
          <p data-testid="preview-summary">
            {preview.items} items ({preview.format ?? 'unknown format'}), {preview.failureCount} failed
            {preview.would
              ? ` · a run would add ${preview.would.new}, update ${preview.would.updated}, leave ${preview.would.unchanged} unchanged`
              : ''}
            {preview.cached ? ' · body fetched less than a minute ago' : ''}
          </p>
          {preview.error ? <p className="field__hint field__hint--bad">{`${preview.error.code}: ${preview.error.message}`}</p> : null}
          <table className="table" data-testid="preview-coverage">
            <caption>Field coverage</caption>
            <tbody>
              {COVERAGE.map(([field, label]) => {
                const n = preview.coverage[field] ?? 0;
                return (
                  <tr key={field} data-field={field} data-count={n}>
                    <th scope="row">{label}</th>
                    <td>{jobs > 0 ? `${Math.round((n * 100) / jobs)}%` : '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {preview.failures.length > 0 ? (
            <div className="preview__failures">
              <ul data-testid="preview-failures">
                {preview.failures.map((f, i) => (
                  <li key={i}>{`${f.code}: ${f.message}`}</li>
                ))}
              </ul>
              {preview.failureCount > preview.failures.length ? (
                <p className="field__hint" data-testid="preview-failures-more">
                  {`and ${preview.failureCount - preview.failures.length} more failed items, counted but not listed`}
                </p>
              ) : null}
            </div>
          ) : null}
          <ol data-testid="preview-jobs">
            {preview.jobs.map((j) => (
              <li key={j.externalId}>
                <strong>{j.title}</strong>
                {j.company ? ` · ${j.company}` : ''}
                {j.locations.length ? ` · ${j.locations.join(', ')}` : ''}
              </li>
            ))}
          </ol>
        </div>
      ) : null}
    </section>
  );
}
