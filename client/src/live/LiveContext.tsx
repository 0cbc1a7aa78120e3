import { createContext, useContext, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { RunLedger } from './RunLedger';
import { useImportStream, type BackoffPolicy, type ImportStream, type SocketLike } from './useImportStream';

interface LiveValue extends ImportStream {
  ledger: RunLedger;
}

const LiveContext = createContext<LiveValue | null>(null);

export interface LiveProviderProps {
  token: string | null;
  onUnauthorized?: () => void;
  createSocket?: (url: string) => SocketLike;
  backoff?: BackoffPolicy;
  children: ReactNode;
}

/** Runs the one WebSocket for the whole app and shares its state. */
export function LiveProvider({ token, onUnauthorized, createSocket, backoff, children }: LiveProviderProps) {
  const queryClient = useQueryClient();
  const [ledger] = useState(() => new RunLedger());
  const stream = useImportStream({ token, queryClient, ledger, onUnauthorized, createSocket, backoff });
  return <LiveContext.Provider value={{ ...stream, ledger }}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveValue {
  const v = useContext(LiveContext);
  if (!v) throw new Error('useLive must be used inside <LiveProvider>');
  return v;
}
