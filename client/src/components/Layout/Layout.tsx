import { useEffect, useRef } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { ErrorBoundary } from '../ErrorBoundary/ErrorBoundary';
import { useAuth } from '../../auth/AuthContext';
import { SignInForm } from '../../auth/SignInForm/SignInForm';
import { ConnectionStatus } from '../ConnectionStatus/ConnectionStatus';
import { MaintenanceBanner } from '../MaintenanceBanner/MaintenanceBanner';
import { ThemeToggle } from '../ThemeToggle/ThemeToggle';

const NAV = [
  { to: '/', label: 'Import history', end: true },
  { to: '/sources', label: 'Sources', end: false },
  { to: '/jobs', label: 'Jobs', end: false },
  { to: '/overview', label: 'Overview', end: false },
  { to: '/queues', label: 'Queues', end: false },
  { to: '/audit', label: 'Audit log', end: false },
];

export function Layout() {
  const { needsSignIn, token, signOut } = useAuth();
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const firstRender = useRef(true);

  // After a client-side navigation, move focus to the new page so screen readers announce it
  // and keyboard users start from the content, not the menu they just used.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    mainRef.current?.focus({ preventScroll: true });
  }, [location.pathname]);

  useEffect(() => {
    const page = NAV.find((n) => (n.end ? location.pathname === n.to : location.pathname.startsWith(n.to)));
    const name = location.pathname.startsWith('/runs/') ? 'Import run' : (page?.label ?? 'Not found');
    document.title = `${name} · Job Importer`;
  }, [location.pathname]);
  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar__brand">Job Importer</div>
        <nav className="topbar__nav" aria-label="Main">
          {NAV.map((n) => (
            <NavLink key={n.to} to={n.to} end={n.end} className="topbar__link">
              {n.label}
            </NavLink>
          ))}
        </nav>
        <div className="topbar__tools">
          <ConnectionStatus />
          <ThemeToggle />
          {token ? (
            <button type="button" className="btn btn--small btn--ghost" onClick={signOut}>
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      {needsSignIn ? null : <MaintenanceBanner />}
      <main id="main" className="main" tabIndex={-1} ref={mainRef}>
        {needsSignIn ? (
          <SignInForm />
        ) : (
          <ErrorBoundary resetKey={location.pathname}>
            <Outlet />
          </ErrorBoundary>
        )}
      </main>
    </div>
  );
}
