/** Words for the expiry vocabulary: why jobs close, and how a source's feed is read. */
import type { ClosedReason, Expiry } from '../api/types';

export const CLOSED_REASON_LABELS: Readonly<Record<ClosedReason, string>> = {
  missing_from_feed: 'missing from the feed',
  expired: 'expired (its end date passed)',
  link_gone: 'link gone (404/410)',
  source_removed: 'its source was removed',
};

export const EXPIRY_LABELS: Readonly<Record<Expiry, { title: string; hint: string }>> = {
  window: {
    title: 'Window',
    hint: 'The feed lists only its newest postings: a job closes only when missing while inside the span a run covered.',
  },
  complete: {
    title: 'Complete',
    hint: 'The feed lists every open posting: a job closes once missing from complete runs.',
  },
  never: {
    title: 'Never',
    hint: 'Absence from the feed never closes a job (an end date that passed still does).',
  },
};
