import { lazy, Suspense, useState, type ReactNode } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { createBrowserRouter, RouterProvider, type RouteObject } from 'react-router';
import { ApiProvider } from './api/ApiContext';
import type { ApiClient } from './api/client';
import { AuthProvider, useAuth } from './auth/AuthContext';
import type { TokenStore } from './auth/token';
import { Layout } from './components/Layout/Layout';
import { LiveProvider } from './live/LiveContext';
import type { SocketLike } from './live/useImportStream';
import { HistoryPage } from './pages/HistoryPage/HistoryPage';
import { JobsPage } from './pages/JobsPage/JobsPage';
import { NotFoundPage } from './pages/NotFoundPage/NotFoundPage';
import { RunDetailPage } from './pages/RunDetailPage/RunDetailPage';
import { SourcesPage } from './pages/SourcesPage/SourcesPage';
import { AuditPage } from './pages/AuditPage/AuditPage';
import { QueuesPage } from './pages/QueuesPage/QueuesPage';
import { createQueryClient } from './queryClient';

// Charts are heavy; only the overview pulls them in.
const OverviewPage = lazy(() => import('./pages/OverviewPage/OverviewPage'));

const routes: RouteObject[] = [
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <HistoryPage /> },
      { path: 'runs/:id', element: <RunDetailPage /> },
      { path: 'sources', element: <SourcesPage /> },
      { path: 'jobs', element: <JobsPage /> },
      { path: 'audit', element: <AuditPage /> },
      { path: 'queues', element: <QueuesPage /> },
      {
        path: 'overview',
        element: (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <OverviewPage />
          </Suspense>
        ),
      },
      { path: '*', element: <NotFoundPage /> },
    ],
  },
];

function Live({ children, createSocket }: { children: ReactNode; createSocket?: (url: string) => SocketLike }) {
  const { token, needsSignIn, reportUnauthorized } = useAuth();
  // A refused token is not retried on the socket; the sign-in form supplies the next one.
  return (
    <LiveProvider token={needsSignIn ? null : token} onUnauthorized={reportUnauthorized} createSocket={createSocket}>
      {children}
    </LiveProvider>
  );
}

function WithQueryClient({ children }: { children: ReactNode }) {
  const { reportUnauthorized } = useAuth();
  const [qc] = useState(() => createQueryClient(reportUnauthorized));
  return <QueryClientProvider client={qc}>{children}</QueryClientProvider>;
}

export interface AppProps {
  api: ApiClient;
  tokens: TokenStore;
  createSocket?: (url: string) => SocketLike;
}

export function App({ api, tokens, createSocket }: AppProps) {
  const [router] = useState(() => createBrowserRouter(routes));
  return (
    <AuthProvider store={tokens}>
      <WithQueryClient>
        <ApiProvider client={api}>
          <Live createSocket={createSocket}>
            <RouterProvider router={router} />
          </Live>
        </ApiProvider>
      </WithQueryClient>
    </AuthProvider>
  );
}
