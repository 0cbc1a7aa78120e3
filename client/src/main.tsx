import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createHttpApiClient } from './api/client';
import { consumeTokenFromFragment, createTokenStore, loadToken } from './auth/token';
import { applyTheme, loadTheme } from './lib/theme';
import './styles.css';

applyTheme(loadTheme());
const tokens = createTokenStore(consumeTokenFromFragment() ?? loadToken());
const api = createHttpApiClient({ getToken: tokens.get });

const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks #root');
createRoot(root).render(
  <StrictMode>
    <App api={api} tokens={tokens} />
  </StrictMode>,
);
