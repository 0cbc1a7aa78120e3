import { useLive } from '../../live/LiveContext';
import type { ConnectionState, Reconnected } from '../../live/useImportStream';
import { useNow } from '../../lib/useNow';

/** How long the "reconnected" notice stays after a reconnect. */
export const RECONNECTED_NOTICE_MS = 10_000;

function reconnectedTitle(r: Reconnected): string {
  const why = r.serverAsked
    ? r.code === 1013
      ? 'The server dropped this view for falling behind and asked it to reconnect.'
      : 'The server asked this view to reconnect.'
    : 'The connection was lost and came back.';
  return `${why} Changes made meanwhile were read again from the database.`;
}

const LABEL: Record<ConnectionState, string> = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  offline: 'offline',
};

const DESCRIPTION: Record<ConnectionState, string> = {
  connecting: 'Connecting to live updates…',
  live: 'Live: import runs update as they happen.',
  reconnecting: 'Connection lost; reconnecting with backoff. The view resyncs when it is back.',
  offline: 'Offline: live updates are paused. Retrying in the background.',
};

/** Always-visible indicator of the live-update socket. */
export function ConnectionStatus() {
  const { state, attempt, reconnectNow, lastError, reconnected } = useLive();
  const recent = reconnected !== null && state === 'live';
  const now = useNow(recent);
  const showReconnected = recent && now - reconnected.at < RECONNECTED_NOTICE_MS;
  return (
    <div className="connection" data-state={state}>
      <span
        data-testid="connection-status"
        data-state={state}
        role="status"
        aria-live="polite"
        title={lastError ? `${DESCRIPTION[state]} Last error: ${lastError.message}` : DESCRIPTION[state]}
        className={`connection__pill connection__pill--${state}`}
      >
        <span className="connection__dot" aria-hidden="true" />
        {LABEL[state]}
        {state === 'reconnecting' && attempt > 1 ? <span className="sr-only"> (attempt {attempt})</span> : null}
      </span>
      {showReconnected ? (
        <span className="connection__notice" data-testid="connection-reconnected" role="status" title={reconnectedTitle(reconnected)}>
          reconnected, view resynced
        </span>
      ) : null}
      {lastError ? (
        <span className="connection__error" data-testid="connection-error" title={`${lastError.code}: ${lastError.message}`}>
          {lastError.message}
        </span>
      ) : null}
      {state === 'offline' || state === 'reconnecting' ? (
        <button type="button" className="btn btn--small btn--ghost" onClick={reconnectNow}>
          Retry now
        </button>
      ) : null}
    </div>
  );
}
