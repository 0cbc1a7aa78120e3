import { useEffect, useState } from 'react';
import { useSources } from '../../../api/hooks';
import { EMPLOYMENT_TYPES } from '../../../api/types';
import type { JobFilterKey } from '../useJobsParams';

const DEBOUNCE_MS = 300;

interface Props {
  raw: (k: JobFilterKey) => string;
  set: (patch: Partial<Record<JobFilterKey, string | null>>, replace?: boolean) => void;
  filtered: boolean;
}

/** A text filter that updates the URL (and so the query) once the user pauses typing. */
function TextFilter({ id, label, name, value, set, placeholder, type = 'text' }: {
  id: string;
  label: string;
  name: JobFilterKey;
  value: string;
  set: Props['set'];
  placeholder?: string;
  type?: 'text' | 'search';
}) {
  const [draft, setDraft] = useState(value);
  const [shown, setShown] = useState(value);
  // The URL changed from outside (back button, "Clear filters"): show it.
  if (value !== shown) {
    setShown(value);
    setDraft(value);
  }
  useEffect(() => {
    if (draft === value) return;
    const t = setTimeout(() => set({ [name]: draft.trim() || null }, true), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, value, name, set]);
  return (
    <div className="field field--inline">
      <label htmlFor={id}>{label}</label>
      <input id={id} type={type} value={draft} onChange={(e) => setDraft(e.target.value)} placeholder={placeholder} />
    </div>
  );
}

function SelectFilter({ id, label, name, value, set, options }: {
  id: string;
  label: string;
  name: JobFilterKey;
  value: string;
  set: Props['set'];
  options: [string, string][];
}) {
  return (
    <div className="field field--inline">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => set({ [name]: e.target.value || null })}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

const human = (t: string) => t.charAt(0) + t.slice(1).toLowerCase().replace('_', ' ');

export function JobFilters({ raw, set, filtered }: Props) {
  const sources = useSources();
  return (
    <form role="search" aria-label="Search jobs" onSubmit={(e) => e.preventDefault()} className="filters filters--jobs">
      <TextFilter id="jobs-q" label="Search" name="q" type="search" value={raw('q')} set={set} placeholder="title, company, words…" />
      <SelectFilter
        id="jobs-source"
        label="Source"
        name="source"
        value={raw('source')}
        set={set}
        options={[['', 'All sources'], ...(sources.data ?? []).map((s): [string, string] => [s._id, s.name])]}
      />
      <TextFilter id="jobs-company" label="Company" name="company" value={raw('company')} set={set} placeholder="exact name" />
      <TextFilter id="jobs-location" label="Location" name="location" value={raw('location')} set={set} placeholder="part of a place" />
      <SelectFilter
        id="jobs-type"
        label="Type"
        name="employmentType"
        value={raw('employmentType')}
        set={set}
        options={[['', 'Any type'], ...EMPLOYMENT_TYPES.map((t): [string, string] => [t, human(t)])]}
      />
      <SelectFilter id="jobs-remote" label="Remote" name="remote" value={raw('remote')} set={set} options={[['', 'Either'], ['true', 'Remote'], ['false', 'On site']]} />
      <SelectFilter id="jobs-status" label="Status" name="status" value={raw('status')} set={set} options={[['', 'Open or closed'], ['open', 'Open'], ['closed', 'Closed']]} />
      <div className="field field--inline">
        <label htmlFor="jobs-from">Posted from</label>
        <input id="jobs-from" type="date" value={raw('from')} onChange={(e) => set({ from: e.target.value || null })} />
      </div>
      <div className="field field--inline">
        <label htmlFor="jobs-to">Posted to</label>
        <input id="jobs-to" type="date" value={raw('to')} onChange={(e) => set({ to: e.target.value || null })} />
      </div>
      {filtered ? (
        <button
          type="button"
          className="btn btn--small btn--ghost"
          onClick={() => set({ q: null, source: null, company: null, location: null, employmentType: null, remote: null, status: null, from: null, to: null })}
        >
          Clear filters
        </button>
      ) : null}
    </form>
  );
}
