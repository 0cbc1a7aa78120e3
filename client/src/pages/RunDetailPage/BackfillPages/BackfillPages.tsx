import type { BackfillStop, ImportRun } from '../../../api/types';

const STOPPED: Readonly<Record<BackfillStop, string>> = {
  empty_page: 'a page listed nothing',
  nothing_new: 'a page listed nothing new',
  page_cap: 'the page cap was reached',
  last_page: 'the feed has no further page',
  error: 'a page failed',
  no_page_param: 'the feed names no paging parameter',
};

/** A backfill run's walk over the feed's pages, page by page as it goes. */
export function BackfillPages({ run }: { run: ImportRun }) {
  const b = run.backfill;
  if (!b) return null;
  return (
    <section className="card" aria-labelledby="backfill-title" data-testid="backfill-pages">
      <h2 id="backfill-title" style={{ marginTop: 0 }}>
        Backfill
      </h2>
      <p className="muted" data-testid="backfill-status">
        {b.pages.length} of at most {b.maxPages} {b.maxPages === 1 ? 'page' : 'pages'} read
        {b.pageParam ? (
          <>
            {' '}
            (by <code>{b.pageParam}</code>)
          </>
        ) : null}
        {b.stopped ? `; stopped: ${STOPPED[b.stopped]}` : '…'}
      </p>
      {b.pages.length > 0 ? (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Page</th>
              <th scope="col">Items</th>
              <th scope="col">New</th>
              <th scope="col">Attempts</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {b.pages.map((p) => (
              <tr key={p.page}>
                <td>{p.page}</td>
                <td>{p.items}</td>
                <td>{p.new}</td>
                <td>{p.attempts}</td>
                <td>{p.error ? <code>{p.error.code}</code> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
