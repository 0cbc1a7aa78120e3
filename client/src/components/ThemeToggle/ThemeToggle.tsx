import { useState } from 'react';
import { applyTheme, loadTheme, type ThemeChoice } from '../../lib/theme';

const NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };
const ICON: Record<ThemeChoice, string> = { system: '◐', light: '☀', dark: '☾' };

export function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme);
  const next = NEXT[choice];
  return (
    <button
      type="button"
      className="btn btn--small btn--ghost"
      data-testid="theme-toggle"
      data-theme-choice={choice}
      aria-label={`Theme: ${choice}. Switch to ${next}.`}
      title={`Theme: ${choice} (click for ${next})`}
      onClick={() => {
        applyTheme(next);
        setChoice(next);
      }}
    >
      <span aria-hidden="true">{ICON[choice]}</span> {choice}
    </button>
  );
}
