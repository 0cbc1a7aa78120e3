import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { useApi } from '../../../api/ApiContext';
import type { Mapping, PreviewInput, Source, SourceFormat, SourceInput } from '../../../api/types';

/** The form's fields about how the feed is read and whose jobs they are. */
export interface ReadingValues {
  url: string;
  userAgent: string;
  /** `auto`, `custom`, or `builtin:<name>`. */
  format: string;
  /** The custom mapping as the editor holds it (JSON text). */
  mappingText: string;
  publisher: string;
  /** Bytes, as typed; empty: the daemon's default. */
  maxBodyBytes: string;
  /** The user agreed that a new publisher gives the jobs new identities. */
  confirmPublisher: boolean;
}

type ReadingField = 'format' | 'mapping' | 'publisher' | 'maxBodyBytes';

/** The built-in mappings the daemon ships (used until it answers with its own list). */
const BUILT_INS = ['jobicy', 'remotive', 'remoteok', 'arbeitnow', 'himalayas'];

export function formatChoice(f: SourceFormat): string {
  if (f === 'auto' || f === 'custom') return f;
  return `builtin:${f.json_api}`;
}

function formatOf(choice: string): SourceFormat {
  if (choice.startsWith('builtin:')) return { json_api: choice.slice('builtin:'.length) };
  return choice === 'custom' ? 'custom' : 'auto';
}

/** The mapping in the editor; throws with a readable message when it is not a JSON object. */
function parseMapping(text: string): Mapping {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`The mapping is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('The mapping must be a JSON object.');
  return v as Mapping;
}

/** The part of the source input these fields make; throws when the mapping is not JSON. */
export function readingInput(v: ReadingValues, initial?: Source): SourceInput {
  const input: SourceInput = { format: formatOf(v.format) };
  if (v.format === 'custom') input.mapping = parseMapping(v.mappingText);
  const publisher = v.publisher.trim();
  if (publisher !== (initial?.publisher ?? '')) input.publisher = publisher;
  const cap = v.maxBodyBytes.trim();
  if (cap) input.maxBodyBytes = Number(cap);
  else if (initial?.maxBodyBytes) input.maxBodyBytes = 0;
  return input;
}

/** What the preview is asked for these values; `null` while they cannot be previewed. */
export function previewInput(v: ReadingValues): PreviewInput | null {
  const url = v.url.trim();
  if (!url) return null;
  const req: PreviewInput = { url, format: formatOf(v.format) };
  if (v.format === 'custom') {
    try {
      req.mapping = parseMapping(v.mappingText);
    } catch {
      return null;
    }
  }
  if (v.publisher.trim()) req.publisher = v.publisher.trim();
  if (v.userAgent.trim()) req.userAgent = v.userAgent.trim();
  const cap = Number(v.maxBodyBytes.trim());
  if (v.maxBodyBytes.trim() && Number.isFinite(cap) && cap > 0) req.maxBodyBytes = cap;
  return req;
}

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
