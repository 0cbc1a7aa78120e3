import { useImportAll } from '../../../api/hooks';
import { errorMessage } from '../../../api/errors';
import type { StartAllReport } from '../../../api/types';

function summary(r: StartAllReport): string {
  const parts = [`${String(r.started.length)} started`];
  if (r.alreadyRunning.length > 0) parts.push(`${String(r.alreadyRunning.length)} already running (${r.alreadyRunning.map((a) => a.sourceId).join(', ')})`);
  if (r.failed.length > 0) parts.push(`${String(r.failed.length)} could not be started (${r.failed.map((f) => f.sourceId).join(', ')})`);
  return parts.join(', ');
}

/** "Import all enabled sources": one run each; sources already importing are left as they are. */
export function ImportAll() {
  const importAll = useImportAll();
  const report = importAll.data;
  return (
    <div className="import-all">
      <button type="button" className="btn btn--primary" disabled={importAll.isPending} onClick={() => importAll.mutate()}>
        {importAll.isPending ? 'Starting…' : 'Import all enabled sources'}
      </button>
      <div role="status" className="import-all__result">
        {report ? <span>{summary(report)}</span> : null}
      </div>
      {importAll.error ? (
        <p className="field__error" role="alert">
          {errorMessage(importAll.error)}
        </p>
      ) : null}
    </div>
  );
}
