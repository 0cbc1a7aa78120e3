import { useState } from 'react';
import { errorMessage } from '../../../api/errors';
import { useAlertChannels, useAlertDeliveries, useSendAlertTest } from '../../../api/hooks';
import type { AlertDelivery, AlertDeliveryStatus, AlertEvent } from '../../../api/types';
import { formatDateTime } from '../../../lib/format';

/** How many recent alert deliveries a source card shows. */
export const SOURCE_ALERTS_LIMIT = 5;

const EVENTS: Record<AlertEvent, string> = {
  run_failed: 'run failed',
  backing_off: 'backing off',
  stale: 'stale',
  coverage_drop: 'company coverage dropped',
  item_failures: 'item failures',
};

const STATUS_BADGE: Record<AlertDeliveryStatus, string> = {
  pending: 'badge badge--queued',
  sent: 'badge badge--completed',
  failed: 'badge badge--failed',
};

function what(d: AlertDelivery): string {
  const m = d.message;
  if (m.transition === 'test' || m.event === null) return 'test message';
  return `${EVENTS[m.event]} ${m.transition === 'opened' ? 'opened' : 'recovered'}`;
}

function DeliveryLine({ d }: { d: AlertDelivery }) {
  const at = d.sentAt ?? d.createdAt;
  return (
    <li data-testid="alert-delivery" data-status={d.status}>
      <time dateTime={at} title={at}>
        {formatDateTime(at)}
      </time>{' '}
      {what(d)} <span className="muted">to {d.channelId}</span> <span className={STATUS_BADGE[d.status]}>{d.status}</span>
      {d.attempts > 1 || (d.status !== 'sent' && d.attempts > 0) ? <span className="muted"> after {d.attempts} attempts</span> : null}
      {d.lastError && d.status !== 'sent' ? <span className="num--bad"> · {d.lastError}</span> : null}
      {d.status === 'pending' && d.nextAt && d.attempts > 0 ? (
        <span className="muted">
          {' '}
          · next try <time dateTime={d.nextAt}>{formatDateTime(d.nextAt)}</time>
        </span>
      ) : null}
    </li>
  );
}

/** "Send test" for admins: a channel to pick when there are several, and the result. */
function SendTest({ sourceId }: { sourceId: string }) {
  const channels = useAlertChannels();
  const send = useSendAlertTest();
  const list = channels.data?.channels ?? [];
  const [picked, setPicked] = useState<string | null>(null);
  const channelId = picked ?? list[0]?.id ?? '';
  if (!channels.data?.canSendTest || list.length === 0) return null;
  const selectId = `alert-channel-${sourceId}`;
  return (
    <div className="source__alert-test">
      {list.length > 1 ? (
        <>
          <label htmlFor={selectId}>Channel</label>{' '}
          <select id={selectId} value={channelId} onChange={(e) => setPicked(e.target.value)}>
            {list.map((c) => (
              <option key={c.id} value={c.id}>
                {c.id} ({c.kind}: {c.target})
              </option>
            ))}
          </select>{' '}
        </>
      ) : null}
      <button
        type="button"
        className="btn btn--small"
        disabled={send.isPending || !channelId}
        onClick={() => send.mutate({ channelId, source: sourceId })}
        title={list.length === 1 ? `Send a test message to ${list[0]?.id ?? ''}` : undefined}
      >
        Send test
      </button>
      {send.isSuccess ? (
        <span className="muted" role="status">
          {' '}
          Test queued.
        </span>
      ) : null}
      {send.error ? (
        <span className="num--bad" role="alert">
          {' '}
          Could not send: {errorMessage(send.error)}
        </span>
      ) : null}
    </div>
  );
}

/** The latest alert deliveries about one source, and (for admins) "Send test". */
export function SourceAlerts({ sourceId }: { sourceId: string }) {
  const deliveries = useAlertDeliveries({ source: sourceId, limit: SOURCE_ALERTS_LIMIT });
  const items = deliveries.data ?? [];
  return (
    <>
      <dt>Alerts</dt>
      <dd data-testid="source-alerts">
        {deliveries.isPending ? (
          <span className="muted">…</span>
        ) : deliveries.isError ? (
          <span className="muted">alert history unavailable</span>
        ) : items.length === 0 ? (
          <span className="muted">none sent</span>
        ) : (
          <ul className="plain">
            {items.map((d) => (
              <DeliveryLine key={d._id} d={d} />
            ))}
          </ul>
        )}
        <SendTest sourceId={sourceId} />
      </dd>
    </>
  );
}
