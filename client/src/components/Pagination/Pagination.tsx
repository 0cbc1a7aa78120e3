interface Props {
  page: number;
  limit: number;
  total: number;
  onPage: (page: number) => void;
  label?: string;
}

export function Pagination({ page, limit, total, onPage, label = 'Pagination' }: Props) {
  const pages = Math.max(1, Math.ceil(total / limit));
  const from = total === 0 ? 0 : (page - 1) * limit + 1;
  const to = Math.min(total, page * limit);
  return (
    <nav className="pagination" aria-label={label}>
      <button type="button" className="btn btn--small" onClick={() => onPage(page - 1)} disabled={page <= 1}>
        ← Previous
      </button>
      <span className="pagination__info" aria-live="polite">
        {from}–{to} of {total} · page {page} of {pages}
      </span>
      <button type="button" className="btn btn--small" onClick={() => onPage(page + 1)} disabled={page >= pages}>
        Next →
      </button>
    </nav>
  );
}
