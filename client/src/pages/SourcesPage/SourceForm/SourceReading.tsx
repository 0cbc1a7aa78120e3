import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { useApi } from '../../../api/ApiContext';
import type { Source } from '../../../api/types';
import { BUILT_INS, type ReadingField, type ReadingValues } from './readingValues';

interface Props {
  values: ReadingValues;
  initial?: Source;
  set: <K extends keyof ReadingValues>(k: K, v: ReadingValues[K]) => void;
  ids: (f: ReadingField) => { input: string; error: string; hint: string };
  described: (f: ReadingField, hint?: boolean) => string | undefined;
  errorFor: (f: ReadingField) => ReactNode;
  invalid: (f: ReadingField) => boolean;
}

/** Format (auto, a built-in mapping, or a mapping of one's own with its editor), publisher and size cap. */
export function SourceReading({ values, initial, set, ids, described, errorFor, invalid }: Props) {
  const api = useApi();
  const mappings = useQuery({ queryKey: ['mappings'], queryFn: () => api.listMappings(), staleTime: Infinity });
  const names = mappings.data?.items.map((m) => m.name) ?? BUILT_INS;
  const startFrom = (name: string) => {
    const m = mappings.data?.items.find((x) => x.name === name)?.mapping;
    if (m) set('mappingText', JSON.stringify(m, null, 2));
  };
  const publisherChanged = Boolean(initial) && values.publisher.trim() !== (initial?.publisher ?? '');
  return (
    <>
      <div className="form__row">
        <div className="field">
          <label htmlFor={ids('format').input}>Format</label>
          <select
            id={ids('format').input}
            name="format"
            value={values.format}
            onChange={(e) => set('format', e.target.value)}
            aria-invalid={invalid('format') || undefined}
            aria-describedby={described('format', true)}
          >
            <option value="auto">Detect (RSS, Atom, JSON Feed, known job APIs)</option>
            {names.map((n) => (
              <option key={n} value={`builtin:${n}`}>{`Built-in mapping: ${n}`}</option>
            ))}
            <option value="custom">Custom mapping</option>
          </select>
          <p id={ids('format').hint} className="field__hint">
            {values.format === 'custom'
              ? 'Write where the items are and which paths hold each field (README, "Mappings").'
              : 'A custom mapping reads any JSON API or XML feed.'}
          </p>
          {errorFor('format')}
        </div>
        <div className="field">
          <label htmlFor={ids('maxBodyBytes').input}>Size cap in bytes (optional)</label>
          <input
            id={ids('maxBodyBytes').input}
            name="maxBodyBytes"
            type="text"
            inputMode="numeric"
            placeholder="daemon default"
            value={values.maxBodyBytes}
            onChange={(e) => set('maxBodyBytes', e.target.value)}
            aria-invalid={invalid('maxBodyBytes') || undefined}
            aria-describedby={described('maxBodyBytes')}
          />
          {errorFor('maxBodyBytes')}
        </div>
      </div>
      {values.format === 'custom' ? (
        <div className="field">
          <label htmlFor={ids('mapping').input}>Mapping (JSON)</label>
          <select aria-label="Start from a built-in mapping" value="" onChange={(e) => startFrom(e.target.value)}>
            <option value="">Start from a built-in mapping…</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <textarea
            id={ids('mapping').input}
            name="mapping"
            rows={12}
            spellCheck={false}
            className="mapping-editor"
            placeholder={'{\n  "items": "/jobs",\n  "fields": {"title": "title", "externalId": "id"}\n}'}
            value={values.mappingText}
            onChange={(e) => set('mappingText', e.target.value)}
            aria-invalid={invalid('mapping') || undefined}
            aria-describedby={described('mapping')}
          />
          {errorFor('mapping')}
        </div>
      ) : null}
      <div className="form__row">
        <div className="field">
          <label htmlFor={ids('publisher').input}>Publisher (optional)</label>
          <input
            id={ids('publisher').input}
            name="publisher"
            type="text"
            placeholder="the URL's host"
            value={values.publisher}
            onChange={(e) => set('publisher', e.target.value)}
            aria-invalid={invalid('publisher') || undefined}
            aria-describedby={described('publisher', publisherChanged)}
          />
          {publisherChanged ? (
            <div id={ids('publisher').hint} className="alert alert--warn" data-testid="publisher-warning">
              <p>
                A new publisher gives every job of this source a new identity: on the next run they are imported again as new
                jobs, and the jobs stored under the old publisher close as missing from the feed.
              </p>
              <div className="field--check">
                <input
                  id={`${ids('publisher').input}-confirm`}
                  type="checkbox"
                  checked={values.confirmPublisher}
                  onChange={(e) => set('confirmPublisher', e.target.checked)}
                />
                <label htmlFor={`${ids('publisher').input}-confirm`}>Change the publisher anyway</label>
              </div>
            </div>
          ) : null}
          {errorFor('publisher')}
        </div>
      </div>
    </>
  );
}
