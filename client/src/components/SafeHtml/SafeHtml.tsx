import DOMPurify from 'dompurify';
import { useMemo } from 'react';

/**
 * Renders HTML that the server already sanitized. It is sanitized again here (defence in depth:
 * a server bug must not become script in the admin's browser), links open in a new tab without
 * an opener. Never pass a field the server did not sanitize.
 */
export function SafeHtml({ html, className, testId }: { html: string; className?: string; testId?: string }) {
  const clean = useMemo(() => {
    const out = DOMPurify.sanitize(html, {
      FORBID_TAGS: ['style', 'form', 'input', 'button', 'iframe', 'object', 'embed'],
      FORBID_ATTR: ['style'],
      // Only web and mail links survive; `javascript:` and `data:` URLs are dropped.
      ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
      RETURN_DOM_FRAGMENT: true,
    });
    for (const a of out.querySelectorAll('a')) {
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noreferrer noopener nofollow');
    }
    const box = document.createElement('div');
    box.appendChild(out);
    return box.innerHTML;
  }, [html]);
  return <div className={className} data-testid={testId} dangerouslySetInnerHTML={{ __html: clean }} />;
}
