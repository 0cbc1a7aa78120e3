import { useId, useState, type SyntheticEvent } from 'react';
import { errorMessage, isApiError } from '../../../api/errors';
import { EXPIRY_MODES, type Expiry, type Source, type SourceInput } from '../../../api/types';
import { MappingPreview } from './MappingPreview';
import { SourceReading } from './SourceReading';
import { formatChoice, previewInput, readingInput, type ReadingValues } from './readingValues';
import { describeCron } from '../../../lib/cron';
import { EXPIRY_LABELS } from '../../../lib/expiry';

type Field = 'name' | 'url' | 'cron' | 'userAgent' | 'enabled' | 'expiry' | 'linkCheck' | 'pageParam' | 'format' | 'mapping' | 'publisher' | 'maxBodyBytes';
const FIELDS: readonly string[] = ['name', 'url', 'cron', 'userAgent', 'enabled', 'expiry', 'linkCheck', 'pageParam', 'format', 'mapping', 'publisher', 'maxBodyBytes'];

interface Props {
  /** Editing an existing source when given; adding otherwise. */
  initial?: Source;
  submitLabel: string;
  onSubmit: (input: SourceInput, opts?: { confirmPublisher?: boolean }) => Promise<unknown>;
  onCancel?: () => void;
  /** Called after a successful submit (the form resets itself when adding). */
  onDone?: () => void;
}

interface Values extends ReadingValues {
  name: string;
  url: string;
  cron: string;
  enabled: boolean;
  userAgent: string;
  expiry: Expiry;
  linkCheck: boolean;
  pageParam: string;
}

const EMPTY: Values = {
  name: '',
  url: '',
  cron: '',
  enabled: true,
  userAgent: '',
  expiry: 'window',
  linkCheck: false,
  pageParam: '',
  format: 'auto',
  mappingText: '',
  publisher: '',
  maxBodyBytes: '',
  confirmPublisher: false,
};

function toInput(v: Values, initial?: Source): SourceInput {
  const input: SourceInput = {
    name: v.name.trim(),
    url: v.url.trim(),
    enabled: v.enabled,
    expiry: v.expiry,
    linkCheck: v.linkCheck,
    ...readingInput(v, initial),
  };
  const cron = v.cron.trim();
  if (cron || initial) input.cron = cron || undefined;
  const pageParam = v.pageParam.trim();
  if (pageParam) input.pageParam = pageParam;
  else if (initial?.pageParam) input.pageParam = '';
  const ua = v.userAgent.trim();
  if (ua) input.userAgent = ua;
  else if (initial?.userAgent) input.userAgent = '';
  return input;
}

/** Add/edit form. Validation is the server's: its `validation.<field>` message is shown by the field. */
export function SourceForm({ initial, submitLabel, onSubmit, onCancel, onDone }: Props) {
  const uid = useId();
  const [values, setValues] = useState<Values>({
    name: initial?.name ?? '',
    url: initial?.url ?? '',
    cron: initial?.cron ?? '',
    enabled: initial?.enabled ?? true,
    userAgent: initial?.userAgent ?? '',
    expiry: initial?.expiry ?? 'window',
    linkCheck: initial?.linkCheck ?? false,
    pageParam: initial?.pageParam ?? '',
    format: initial ? formatChoice(initial.format) : 'auto',
    mappingText: initial?.mapping ? JSON.stringify(initial.mapping, null, 2) : '',
    publisher: initial?.publisher ?? '',
    maxBodyBytes: initial?.maxBodyBytes ? String(initial.maxBodyBytes) : '',
    confirmPublisher: false,
  });
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<Field, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Bumped when the form empties after an add: the preview of the source just added goes too,
  // and the next source is previewed only once its "Test" is pressed.
  const [blankForms, setBlankForms] = useState(0);
  const cronReading = describeCron(values.cron);

  const set = <K extends keyof typeof values>(k: K, v: (typeof values)[K]) => {
    setValues((prev) => ({ ...prev, [k]: v }));
    if (k in fieldErrors) setFieldErrors((prev) => ({ ...prev, [k]: undefined }));
  };

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setBusy(true);
    setFormError(null);
    setFieldErrors({});
    try {
      let input: SourceInput;
      try {
        input = toInput(values, initial);
      } catch (err) {
        setFieldErrors({ mapping: err instanceof Error ? err.message : String(err) });
        return;
      }
      await onSubmit(input, { confirmPublisher: values.confirmPublisher });
      if (!initial) {
        setValues(EMPTY);
        setBlankForms((n) => n + 1);
      }
      onDone?.();
    } catch (err) {
      const field = isApiError(err) ? err.field : undefined;
      if (field && FIELDS.includes(field)) setFieldErrors({ [field as Field]: errorMessage(err) });
      else setFormError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const ids = (f: Field) => ({ input: `${uid}-${f}`, error: `${uid}-${f}-error`, hint: `${uid}-${f}-hint` });
  const described = (f: Field, hint = false) =>
    [fieldErrors[f] ? ids(f).error : null, hint ? ids(f).hint : null].filter(Boolean).join(' ') || undefined;
  const errorFor = (f: Field) =>
    fieldErrors[f] ? (
      <p id={ids(f).error} className="field__error" role="alert" data-testid={`field-error-${f}`}>
        {fieldErrors[f]}
      </p>
    ) : null;

  return (
    <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-label={initial ? `Edit ${initial.name}` : 'Add a source'}>
      {formError ? (
        <div className="alert alert--error" role="alert" data-testid="form-error">
          {formError}
        </div>
      ) : null}
      <div className="form__row">
        <div className="field">
          <label htmlFor={ids('name').input}>Name</label>
          <input
            id={ids('name').input}
            name="name"
            type="text"
            value={values.name}
            onChange={(e) => set('name', e.target.value)}
            aria-invalid={fieldErrors.name ? true : undefined}
            aria-describedby={described('name')}
            required
          />
          {errorFor('name')}
        </div>
        <div className="field">
          <label htmlFor={ids('url').input}>Feed URL</label>
          <input
            id={ids('url').input}
            name="url"
            type="text"
            inputMode="url"
            placeholder="https://jobicy.com/?feed=job_feed"
            value={values.url}
            onChange={(e) => set('url', e.target.value)}
            aria-invalid={fieldErrors.url ? true : undefined}
            aria-describedby={described('url')}
            required
          />
          {errorFor('url')}
        </div>
      </div>
      <div className="form__row">
        <div className="field">
          <label htmlFor={ids('cron').input}>Schedule (cron, 6 fields, UTC)</label>
          <input
            id={ids('cron').input}
            name="cron"
            type="text"
            placeholder="0 0 * * * *  (every hour)"
            value={values.cron}
            onChange={(e) => set('cron', e.target.value)}
            aria-invalid={fieldErrors.cron ? true : undefined}
            aria-describedby={described('cron', true)}
            spellCheck={false}
          />
          <p id={ids('cron').hint} className={`field__hint${cronReading.ok ? '' : ' field__hint--bad'}`} data-testid="cron-reading">
            {cronReading.text}
          </p>
          {errorFor('cron')}
        </div>
        <div className="field">
          <label htmlFor={ids('userAgent').input}>User-Agent (optional)</label>
          <input
            id={ids('userAgent').input}
            name="userAgent"
            type="text"
            placeholder="daemon default"
            value={values.userAgent}
            onChange={(e) => set('userAgent', e.target.value)}
            aria-invalid={fieldErrors.userAgent ? true : undefined}
            aria-describedby={described('userAgent')}
          />
          {errorFor('userAgent')}
        </div>
      </div>
      <div className="form__row">
        <div className="field">
          <label htmlFor={ids('expiry').input}>Jobs missing from the feed</label>
          <select
            id={ids('expiry').input}
            name="expiry"
            value={values.expiry}
            onChange={(e) => set('expiry', e.target.value as Expiry)}
            aria-invalid={fieldErrors.expiry ? true : undefined}
            aria-describedby={described('expiry', true)}
          >
            {EXPIRY_MODES.map((m) => (
              <option key={m} value={m}>
                {EXPIRY_LABELS[m].title}
              </option>
            ))}
          </select>
          <p id={ids('expiry').hint} className="field__hint" data-testid="expiry-hint">
            {EXPIRY_LABELS[values.expiry].hint}
          </p>
          {errorFor('expiry')}
        </div>
        <div className="field">
          <div className="field--check">
            <input
              id={ids('linkCheck').input}
              name="linkCheck"
              type="checkbox"
              checked={values.linkCheck}
              onChange={(e) => set('linkCheck', e.target.checked)}
              aria-describedby={described('linkCheck', true)}
            />
            <label htmlFor={ids('linkCheck').input}>Check links of jobs that left the window</label>
          </div>
          <p id={ids('linkCheck').hint} className="field__hint">
            About once a day, a job older than the feed's window has its posting's link checked; a 404 or 410 closes it.
          </p>
          {errorFor('linkCheck')}
        </div>
        <div className="field">
          <label htmlFor={ids('pageParam').input}>Page parameter (backfill)</label>
          <input
            id={ids('pageParam').input}
            name="pageParam"
            value={values.pageParam}
            onChange={(e) => set('pageParam', e.target.value)}
            placeholder="found from the feed"
            maxLength={50}
            aria-invalid={fieldErrors.pageParam ? true : undefined}
            aria-describedby={described('pageParam', true)}
          />
          <p id={ids('pageParam').hint} className="field__hint">
            The query parameter that numbers the feed's pages, e.g. <code>page</code>. Empty: <code>paged</code> when WordPress made the feed.
          </p>
          {errorFor('pageParam')}
        </div>
      </div>
      <SourceReading
        values={values}
        initial={initial}
        set={(k, v) => set(k, v as Values[typeof k])}
        ids={(f) => ids(f)}
        described={(f, hint) => described(f, hint)}
        errorFor={(f) => errorFor(f)}
        invalid={(f) => Boolean(fieldErrors[f])}
      />
      <MappingPreview key={blankForms} input={previewInput(values)} />
      <div className="form__actions">
        <div className="field--check">
          <input id={ids('enabled').input} name="enabled" type="checkbox" checked={values.enabled} onChange={(e) => set('enabled', e.target.checked)} />
          <label htmlFor={ids('enabled').input}>Enabled (runs on schedule)</label>
        </div>
        <button type="submit" className="btn btn--primary" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
        {onCancel ? (
          <button type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}
