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

export type ReadingField = 'format' | 'mapping' | 'publisher' | 'maxBodyBytes';

/** The built-in mappings the daemon ships (used until it answers with its own list). */
export const BUILT_INS = ['jobicy', 'remotive', 'remoteok', 'arbeitnow', 'himalayas'];

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
    throw new Error(`The mapping is not JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
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
