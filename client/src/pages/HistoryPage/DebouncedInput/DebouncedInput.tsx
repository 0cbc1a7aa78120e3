import { useEffect, useState } from 'react';

const DEBOUNCE_MS = 300;

/** A text input that reports its value once the user pauses typing (each report is a request). */
export function DebouncedInput({ id, label, value, onChange, maxLength, placeholder, list }: {
  id: string;
  label: string;
  value: string;
  onChange: (v: string | undefined) => void;
  maxLength: number;
  placeholder?: string;
  list?: string;
}) {
  const [draft, setDraft] = useState(value);
  const [shown, setShown] = useState(value);
  // The URL changed from outside (back button, "Clear filters"): show it.
  if (value !== shown) {
    setShown(value);
    setDraft(value);
  }
  useEffect(() => {
    if (draft.trim() === value) return;
    const t = setTimeout(() => onChange(draft.trim() || undefined), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, value, onChange]);
  return (
    <div className="field field--inline">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="search"
        value={draft}
        maxLength={maxLength}
        placeholder={placeholder}
        list={list}
        onChange={(e) => setDraft(e.target.value)}
      />
    </div>
  );
}
