import { Component, type ErrorInfo, type ReactNode } from 'react';
import { ErrorMessage } from '../ErrorMessage/ErrorMessage';

interface State {
  error: unknown;
}

/** Keeps the header (and the way back) on screen when a page fails to render. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error };
  }

  override componentDidUpdate(prev: { resetKey?: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error !== null) this.setState({ error: null });
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.warn('page failed to render', error, info.componentStack);
  }

  override render() {
    if (this.state.error !== null) {
      return <ErrorMessage error={this.state.error} title="This page failed to render" onRetry={() => this.setState({ error: null })} />;
    }
    return this.props.children;
  }
}
