import { Link } from 'react-router';
import { useCreateSource, useSources } from '../../api/hooks';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { SourceCard } from './SourceCard/SourceCard';
import { SourceForm } from './SourceForm/SourceForm';
import { ImportAll } from './ImportAll/ImportAll';

export function SourcesPage() {
  const sources = useSources();
  const create = useCreateSource();
  return (
    <section aria-labelledby="sources-title">
      <div className="page-head">
        <h1 id="sources-title">Sources</h1>
        <ImportAll />
        <Link to="/audit">Who changed what (audit log)</Link>
      </div>
      <section className="card" aria-labelledby="add-source-title" style={{ marginBottom: '1rem' }}>
        <h2 id="add-source-title" style={{ marginTop: 0 }}>
          Add a source
        </h2>
        <SourceForm submitLabel="Add source" onSubmit={(input) => create.mutateAsync(input)} />
      </section>
      {sources.isPending ? <p className="muted">Loading sources…</p> : null}
      {sources.isError ? <ErrorMessage error={sources.error} title="Could not load sources" onRetry={() => void sources.refetch()} /> : null}
      {sources.data?.length === 0 ? <p className="empty">No sources yet. Add one above.</p> : null}
      <ul className="source-list" aria-label="Sources">
        {sources.data?.map((s) => <SourceCard key={s._id} source={s} />)}
      </ul>
    </section>
  );
}
